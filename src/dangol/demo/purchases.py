"""Orders, order lines and returns from a behavioural model, not uniform noise.

Each buying customer has a purchase rate λ (gamma-distributed across customers) and a dropout
probability p (beta-distributed): the BG/NBD generative process, in its MBG/NBD variant where a
customer may also drop out right after the first purchase (that is where the one-time buyers
come from). Order value follows a gamma distribution around a customer-specific mean (the
Gamma-Gamma spend model), mildly lower for very frequent buyers, as is usual in retail.
Time runs in "operational time" whose intensity follows the Korean retail calendar (Seollal and
Chuseok gift seasons, Black Friday / 코리아세일페스타, year-end), so order dates bunch where
real ones do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import holidays
import numpy as np

from dangol.demo.catalog import ROUTINE, STEPS, Catalog, line_weights, step_weights

# Behavioural parameters (calibrated so that ≈50 % of buyers buy once and the top 20 % of
# buyers bring 60–70 % of revenue; see tests/test_purchases.py).
RATE_SHAPE = 10.0  # r: shape of λ across customers
RATE_SCALE = 1 / 280.0  # 1/α: λ in purchases per operational day
DROPOUT_A, DROPOUT_B = 0.1, 0.1  # Beta(a, b) of p: U-shaped, one-timers and loyal regulars
SPEND_MEAN = 42_000  # KRW, mean order value
SPEND_SHAPE = 4.0  # shape of order value around a customer's own mean
CUSTOMER_SPEND_SHAPE = 8.0  # shape of customers' mean order values
FREQ_VALUE_ELASTICITY = 1.2  # frequent buyers spend a little less per order
BUYER_SHARE = 0.92  # the rest registered but never bought (leads)
RETURN_RATE = 0.035
CANCEL_RATE = 0.02
DAY = 86_400


@dataclass(frozen=True)
class RetailCalendar:
    """Daily purchase intensity over the simulated window and its cumulative (operational) time."""

    start: datetime.date
    days: int
    intensity: np.ndarray  # mean 1
    discount: np.ndarray  # promotion discount rate per day
    cumulative: np.ndarray  # operational time at the start of each day, len days + 1

    @property
    def start_epoch(self) -> int:
        return int(datetime.datetime(self.start.year, self.start.month, self.start.day,
                                     tzinfo=datetime.UTC).timestamp()) - 9 * 3600  # fmt: skip

    def to_day(self, op_time: np.ndarray) -> np.ndarray:
        """Calendar day (fractional) of operational times."""
        idx = np.clip(np.searchsorted(self.cumulative, op_time, side="right") - 1, 0, self.days - 1)
        frac = (op_time - self.cumulative[idx]) / self.intensity[idx]
        return idx + np.clip(frac, 0, 0.999)


def retail_calendar(end: datetime.date, years: int = 3) -> RetailCalendar:
    """The intensity of shopping per day for the ``years`` up to ``end``."""
    start = end - datetime.timedelta(days=365 * years)
    days = (end - start).days
    dates = [start + datetime.timedelta(days=i) for i in range(days)]
    inten = np.ones(days)
    disc = np.zeros(days)
    kr = holidays.country_holidays("KR", years=range(start.year, end.year + 1), language="en_US")
    big = [d for d, name in kr.items() if "Chuseok" in name or "Korean New Year" in name]
    weekday = np.array([d.weekday() for d in dates])
    inten[weekday >= 5] *= 1.15
    for i, d in enumerate(dates):
        # Gift buying in the two weeks before Seollal and Chuseok, quiet on the days themselves.
        ahead = [(h - d).days for h in big]
        if any(1 <= a <= 14 for a in ahead):
            inten[i] *= 1.8
            disc[i] = max(disc[i], 0.1)
        if d in big:
            inten[i] *= 0.5
        if d.month == 11:
            # Black Friday (4th Friday of November) and the Korea Sale Festa around it.
            bf = datetime.date(d.year, 11, 1)
            bf += datetime.timedelta(days=(4 - bf.weekday()) % 7 + 21)
            if 0 <= (d - bf).days <= 3 or 0 <= (bf - d).days <= 6:
                inten[i] *= 2.4
                disc[i] = 0.2
        if d.month == 12 and d.day >= 10:
            inten[i] *= 1.6  # year-end gifts
            disc[i] = max(disc[i], 0.1)
    inten /= inten.mean()
    cum = np.concatenate([[0.0], np.cumsum(inten)])
    return RetailCalendar(start, days, inten, disc, cum)


@dataclass
class CustomerBatch:
    """What the purchase model needs to know about a chunk of customers."""

    customer_id: np.ndarray
    signup_day: np.ndarray  # float day index in the calendar
    channel: np.ndarray  # signup channel code
    region: np.ndarray
    org_id: np.ndarray  # 0 for retail customers


@dataclass
class Purchases:
    """Columns of the orders, lines, returns and return lines generated for a chunk."""

    orders: dict[str, np.ndarray]
    lines: dict[str, np.ndarray]
    returns: dict[str, np.ndarray]
    return_lines: dict[str, np.ndarray]
    dropped_out: np.ndarray  # per customer: became inactive within the window
    trouble: np.ndarray  # per customer: propensity to complain and return


def _segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment of ``counts`` elements."""
    total = np.cumsum(values)
    ends = np.cumsum(counts)
    offset = np.repeat(np.concatenate([[0.0], total[ends[:-1] - 1]]) if len(counts) else [], counts)
    return total - offset


def _base34(values: np.ndarray, width: int) -> np.ndarray:
    alphabet = np.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"), dtype=object)
    out = np.full(len(values), "", dtype=object)
    v = values.astype(np.int64).copy()
    for _ in range(width):
        out = alphabet[v % 34] + out
        v //= 34
    return out


def generate_purchases(
    batch: CustomerBatch,
    cal: RetailCalendar,
    catalog: Catalog,
    channels: dict[str, int],
    store_by_region: dict[str, list[int]],
    *,
    first_order_id: int,
    first_line_id: int,
    first_return_id: int,
    first_return_line_id: int,
    rng: np.random.Generator,
) -> Purchases:
    """Simulate every order of a chunk of customers."""
    n = len(batch.customer_id)
    b2b = batch.org_id > 0
    buyer = (rng.random(n) < BUYER_SHARE) | b2b
    lam = rng.gamma(RATE_SHAPE, RATE_SCALE, n)
    lam[b2b] = rng.gamma(8.0, 1 / 320.0, int(b2b.sum()))  # wholesale: regular reorders
    p = rng.beta(DROPOUT_A, DROPOUT_B, n)
    p[b2b] = rng.beta(1, 30, int(b2b.sum()))
    allowed = rng.geometric(np.clip(p, 1e-6, 1)) - 1  # repeats before dropping out
    sign_day = np.floor(batch.signup_day).astype(np.int64)
    op_start = cal.cumulative[sign_day] + (batch.signup_day - sign_day) * cal.intensity[sign_day]
    span = np.maximum(cal.cumulative[-1] - op_start, 0.0)
    poisson = rng.poisson(lam * span)
    repeats = np.where(buyer, np.minimum(allowed, poisson), 0)
    dropped_out = buyer & (allowed < poisson)
    n_orders = buyer.astype(np.int64) + repeats

    # Repeat times: the first `repeats` of `poisson` uniform points, via exponential spacings.
    spacing = rng.exponential(1.0, int(repeats.sum()))
    partial = _segment_cumsum(spacing, repeats)
    rest = rng.gamma(np.maximum(poisson - repeats + 1, 1).astype(float), 1.0)
    last = np.zeros(n)
    ends = np.cumsum(repeats)
    has = repeats > 0
    last[has] = partial[ends[has] - 1]
    denom = np.repeat(last + rest, repeats)
    rep_op = np.repeat(op_start, repeats) + partial / denom * np.repeat(span, repeats)
    # First purchase at signup: same visit in store, within a few days online.
    first_delay = np.where(batch.channel == "store", 0.01, rng.exponential(1.5, n))
    first_op = op_start + first_delay * cal.intensity[sign_day]

    cust_idx = np.repeat(np.arange(n), n_orders)
    starts = np.cumsum(n_orders) - n_orders
    is_first = np.zeros(len(cust_idx), dtype=bool)
    is_first[starts[buyer]] = True
    op = np.empty(len(cust_idx))
    op[is_first] = first_op[buyer]
    op[~is_first] = rep_op
    op = np.minimum(op, cal.cumulative[-1] - 1e-6)
    day = cal.to_day(op)
    m = len(cust_idx)
    # Shopping hours: stores 11–21h, online all day with an evening peak.
    hour = np.clip(rng.normal(16.5, 3.5, m), 0, 23.99)
    placed = cal.start_epoch + (np.floor(day) * DAY + hour * 3600).astype(np.int64)
    order_day = np.floor(day).astype(np.int64)

    # Channel of each order, starting from how the customer signed up.
    sch = batch.channel[cust_idx]
    r = rng.random(m)
    channel = np.full(m, channels["online"], dtype=np.int64)
    channel[r > 0.7] = channels["app"]
    channel[(sch == "app") & (r < 0.75)] = channels["app"]
    channel[(sch == "online") & (r > 0.9)] = channels["marketplace"]
    channel[(sch == "call_center") & (r < 0.4)] = channels["call-center"]
    store_mask = (sch == "store") & (r < 0.65)
    if store_mask.any():
        reg = batch.region[cust_idx]
        store_ch = np.full(m, channels["online"], dtype=np.int64)
        pick = rng.integers(0, 2, m)
        for region, ids in store_by_region.items():
            sel = reg == region
            store_ch[sel] = np.array(ids)[pick[sel] % len(ids)]
        # Customers living where there is no store shop at the flagship when they visit Seoul.
        no_store = ~np.isin(reg, list(store_by_region))
        store_ch[no_store] = np.where(
            r[no_store] < 0.2, store_by_region["seoul"][0], channels["online"]
        )
        channel[store_mask] = store_ch[store_mask]
    order_b2b = b2b[cust_idx]
    channel[order_b2b] = channels["wholesale"]

    # Value: a customer-specific mean, lower for very frequent buyers.
    nu = (
        rng.gamma(CUSTOMER_SPEND_SHAPE, 1 / CUSTOMER_SPEND_SHAPE, n)
        * SPEND_MEAN
        * (lam / (RATE_SHAPE * RATE_SCALE)) ** (-FREQ_VALUE_ELASTICITY)
    )
    nu = np.clip(nu, 12_000, 600_000)
    target = rng.gamma(SPEND_SHAPE, nu[cust_idx] / SPEND_SHAPE)
    n_lines = np.clip(np.round(target / 30_000), 1, 6).astype(np.int64)
    n_lines[order_b2b] = rng.integers(3, 9, int(order_b2b.sum()))
    premium_p = np.clip(nu / 200_000, 0.03, 0.6)[cust_idx]
    fav_line = rng.choice(len(line_weights()), n, p=line_weights())[cust_idx]

    # Build baskets position by position (≤ 8 small vectorised steps).
    total_lines = int(n_lines.sum())
    line_order = np.repeat(np.arange(m), n_lines)
    pos = np.arange(total_lines) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    product = np.empty(total_lines, dtype=np.int64)
    prev_step = np.full(m, -1, dtype=np.int64)
    prev_line = fav_line.copy()
    sw, lw = step_weights(), line_weights()
    for k in range(int(n_lines.max()) if total_lines else 0):
        sel = np.flatnonzero(pos == k)
        o = line_order[sel]
        cnt = len(sel)
        step = rng.choice(len(STEPS), cnt, p=sw)
        follow = (prev_step[o] >= 0) & (prev_step[o] < ROUTINE - 1) & (rng.random(cnt) < 0.6)
        step[follow] = prev_step[o][follow] + 1  # cleanser → toner → serum → cream
        line_i = np.where(rng.random(cnt) < 0.7, prev_line[o], rng.choice(len(lw), cnt, p=lw))
        premium = rng.random(cnt) < premium_p[o]
        product[sel] = catalog.lookup(line_i, step, premium)
        prev_step[o] = step
        prev_line[o] = line_i
    unit = catalog.price[product]
    qty = np.where(rng.random(total_lines) < 0.86, 1, rng.integers(2, 4, total_lines))
    b2b_line = order_b2b[line_order]
    qty[b2b_line] = rng.integers(10, 61, int(b2b_line.sum()))
    rate = cal.discount[order_day][line_order]
    rate = np.where(b2b_line, 0.3, rate)  # wholesale price
    gross = unit * qty
    line_disc = (np.round(gross * rate / 100) * 100).astype(np.int64)
    line_total = gross - line_disc
    subtotal = np.bincount(line_order, weights=gross, minlength=m).astype(np.int64)
    discount = np.bincount(line_order, weights=line_disc, minlength=m).astype(np.int64)
    total = subtotal - discount

    # Status: recent orders still in flight, a few cancelled, some returned.
    end_day = cal.days
    status = np.full(m, "fulfilled", dtype=object)
    status[order_day >= end_day - 2] = "paid"
    status[order_day >= end_day - 1] = "placed"
    status[rng.random(m) < CANCEL_RATE] = "cancelled"
    trouble = rng.gamma(0.6, 1 / 0.6, n) * np.where(dropped_out, 2.0, 0.7)
    ret = (status == "fulfilled") & (rng.random(m) < RETURN_RATE * trouble[cust_idx])
    ret_orders = np.flatnonzero(ret)
    first_line = np.cumsum(n_lines) - n_lines
    ret_line = first_line[ret_orders] + rng.integers(0, n_lines[ret_orders])
    ret_qty = qty[ret_line]
    ret_amount = line_total[ret_line]
    full = n_lines[ret_orders] == 1
    status[ret_orders] = np.where(full, "returned", "partially_returned")
    returned_amount = np.zeros(m, dtype=np.int64)
    returned_amount[ret_orders] = ret_amount
    reasons = np.array(
        ["change_of_mind", "defect", "damaged", "wrong_item", "skin_trouble", "other"], dtype=object
    )
    reason = reasons[rng.choice(6, len(ret_orders), p=[0.38, 0.14, 0.12, 0.08, 0.22, 0.06])]
    returned_at = placed[ret_orders] + rng.integers(2, 15, len(ret_orders)) * DAY
    returned_at = np.minimum(returned_at, cal.start_epoch + end_day * DAY - 3600)
    returned_qty = np.zeros(total_lines, dtype=np.int64)
    returned_qty[ret_line] = ret_qty

    order_id = np.arange(first_order_id, first_order_id + m, dtype=np.int64)
    line_id = np.arange(first_line_id, first_line_id + total_lines, dtype=np.int64)
    return_id = np.arange(first_return_id, first_return_id + len(ret_orders), dtype=np.int64)
    ymd = np.datetime64("1970-01-01") + ((placed + 9 * 3600) // DAY).astype("timedelta64[D]")
    number = (
        "DG" + np.char.replace(ymd.astype(str), "-", "").astype(object) + "-" + _base34(order_id, 8)
    )
    org = batch.org_id[cust_idx]
    return Purchases(
        orders={
            "id": order_id,
            "number": number,
            "customer_id": batch.customer_id[cust_idx],
            "organization_id": np.where(org > 0, org, -1),
            "channel_id": channel,
            "status": status,
            "placed_at": placed,
            "subtotal": subtotal,
            "discount": discount,
            "total": total,
            "returned_amount": returned_amount,
            "created_at": placed,
        },
        lines={
            "id": line_id,
            "order_id": order_id[line_order],
            "product_id": catalog.first_id + product,
            "quantity": qty,
            "unit_price": unit,
            "discount": line_disc,
            "line_total": line_total,
            "returned_quantity": returned_qty,
        },
        returns={
            "id": return_id,
            "order_id": order_id[ret_orders],
            "customer_id": batch.customer_id[cust_idx[ret_orders]],
            "returned_at": returned_at,
            "reason": reason,
            "amount": ret_amount,
        },
        return_lines={
            "id": np.arange(
                first_return_line_id, first_return_line_id + len(ret_orders), dtype=np.int64
            ),
            "ret_id": return_id,
            "order_line_id": line_id[ret_line],
            "quantity": ret_qty,
            "amount": ret_amount,
        },
        dropped_out=dropped_out,
        trouble=trouble,
    )
