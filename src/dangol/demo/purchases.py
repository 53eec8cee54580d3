"""Orders, order lines and returns from customers' life stories, not uniform noise.

Every buying customer lives one of a few stories, as in a real cosmetics retailer's base:

- **one-time buyers** buy once and never again (more of them among the customers a promotion
  brought in: last year's Black Friday or Chuseok deal-seekers);
- **regulars** buy at their own rate λ (gamma-distributed across customers) for a lifetime
  (exponential, so some stopped two years ago, some last quarter, most are still buying);
- a regular who **stops** does not stop cold: over the last months before leaving their gaps
  widen (purchases thin out), baskets shrink and returns and complaints pile up — the
  precursors a churn model can learn;
- **new customers** keep arriving: signups follow the shopping calendar and a growing business,
  so promotion months bring bigger cohorts (cohort seasonality) and this month has its newcomers.

Order value follows a gamma distribution around a customer-specific mean (the Gamma-Gamma spend
model), mildly lower for very frequent buyers. Baskets follow the skincare routine (cleanser →
toner → serum → cream), the customer's favourite brand line and the customer's interests (makeup,
hair, body, gifts): the co-purchase structure a next-best-offer model should find.
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

# Behavioural parameters, calibrated so that every RFM segment is populated (on the demo's 24-month
# business thresholds and on quintiles), about 40 % of buyers buy once and the top 20 % of buyers
# bring 60–70 % of revenue (see tests/test_purchases.py).
RATE_SHAPE = 2.5  # shape of λ across regulars (a tail of very frequent buyers)
RATE_MEAN = 1 / 30.0  # mean λ of regulars, purchases per operational day (≈ 12 a year)
ONE_TIME_SHARE = 0.22  # buyers who never come back (short lives and low rates add more)
ONE_TIME_SHARE_PROMO = 0.45  # … among those who signed up on a promotion day
LIFETIME_MEAN = 800.0  # mean days a regular keeps buying (exponential)
FADE_DAYS = (45.0, 150.0)  # a leaving regular's purchases thin out over this many last days
FADE_KEEP = 0.5  # share of purchases left at the very end of the fade
FADE_BASKET = 0.8  # baskets shrink while fading
FADE_RETURNS = 3.0  # returns are this much more likely while fading
EXISTING_BASE = 0.08  # the base already there when the window starts (its first 90 days)
GROWTH = 2.5  # signups per day grow by this share over the window
SPEND_MEAN = 48_000  # KRW, mean order value
SPEND_SHAPE = 4.0  # shape of order value around a customer's own mean
CUSTOMER_SPEND_SHAPE = 4.0  # shape of customers' mean order values
FREQ_VALUE_ELASTICITY = 0.15  # frequent buyers spend a little less per order
BUYER_SHARE = 0.92  # the rest registered but never bought (leads)
RETURN_RATE = 0.035
CANCEL_RATE = 0.02
# Interests: groups of catalogue steps a customer keeps coming back to (weights of the primary
# interest); the routine group is the skincare routine itself.
INTEREST_GROUPS: list[tuple[tuple[int, ...], float]] = [
    ((0, 1, 2, 3), 0.42),  # skincare routine
    ((4, 5), 0.12),  # sun care and masks
    ((6, 7, 8), 0.2),  # makeup
    ((9, 10), 0.1),  # hair
    ((11, 12), 0.09),  # body
    ((13, 14, 15), 0.07),  # fragrance, candles, gift sets
]
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


def signup_days(cal: RetailCalendar, n: int, rng: np.random.Generator) -> np.ndarray:
    """Fractional signup days: an existing base in the first 90 days, then a growing inflow that
    follows the shopping calendar (promotions bring more newcomers)."""
    weight = cal.intensity**1.5 * (1.0 + GROWTH * np.arange(cal.days) / cal.days)
    inflow = rng.choice(cal.days, n, p=weight / weight.sum()) + rng.random(n)
    existing = rng.random(n) * min(90, cal.days)
    day = np.where(rng.random(n) < EXISTING_BASE, existing, inflow)
    return np.minimum(day, cal.days - 1e-3)


def interest_table() -> np.ndarray:
    """Cumulative step distribution per interest group, then one for the whole catalogue."""
    sw = step_weights()
    rows = []
    for steps, _weight in INTEREST_GROUPS:
        w = np.zeros(len(STEPS))
        w[list(steps)] = sw[list(steps)]
        rows.append(np.cumsum(w / w.sum()))
    rows.append(np.cumsum(sw))
    table = np.array(rows)
    # The end of each row reads as just above 1: a draw u < 1 never runs past its group.
    return np.where(table > 1 - 1e-9, 1 + 1e-9, table)
    return table


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
    leaves: np.ndarray  # per customer: a regular who stopped within the window (after a fade)
    fade_start: np.ndarray  # per customer: epoch seconds the fade began (0 when not leaving)
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
    lam = rng.gamma(RATE_SHAPE, RATE_MEAN / RATE_SHAPE, n)
    lam[b2b] = rng.gamma(8.0, 1 / 320.0, int(b2b.sum()))  # wholesale: regular reorders
    sign_day = np.floor(batch.signup_day).astype(np.int64)
    promo_signup = cal.discount[sign_day] > 0
    one_time = (rng.random(n) < np.where(promo_signup, ONE_TIME_SHARE_PROMO, ONE_TIME_SHARE)) & ~b2b
    life = rng.exponential(LIFETIME_MEAN, n)
    life[b2b] = rng.exponential(6 * LIFETIME_MEAN, int(b2b.sum()))
    op_start = cal.cumulative[sign_day] + (batch.signup_day - sign_day) * cal.intensity[sign_day]
    end_op = cal.cumulative[-1]
    # First purchase at signup: same visit in store, within a few days online.
    first_delay = np.where(batch.channel == "store", 0.01, rng.exponential(1.5, n))
    first_op = np.minimum(op_start + first_delay * cal.intensity[sign_day], end_op - 1e-6)
    stop_op = np.where(one_time, first_op, first_op + life)
    leaves = buyer & ~one_time & (stop_op < end_op)  # regulars who stopped within the window
    dropped_out = buyer & (stop_op < end_op)
    span = np.where(buyer, np.maximum(np.minimum(stop_op, end_op) - first_op, 0.0), 0.0)

    # Repeat purchases: a Poisson process at rate λ until the customer stops, thinned over the
    # fade before a regular leaves (the gaps widen).
    poisson = rng.poisson(lam * span)
    rep_cust = np.repeat(np.arange(n), poisson)
    rep_op = first_op[rep_cust] + rng.random(len(rep_cust)) * span[rep_cust]
    fade_len = rng.uniform(*FADE_DAYS, n)
    fade_from = np.where(leaves, stop_op - fade_len, np.inf)
    into_fade = np.clip((rep_op - fade_from[rep_cust]) / fade_len[rep_cust], 0.0, 1.0)
    keep = rng.random(len(rep_cust)) < 1.0 - (1.0 - FADE_KEEP) * into_fade
    rep_cust, rep_op = rep_cust[keep], rep_op[keep]
    first = np.flatnonzero(buyer)
    cust_idx = np.concatenate([first, rep_cust])
    op = np.concatenate([first_op[first], rep_op])
    by_time = np.lexsort((op, cust_idx))
    cust_idx, op = cust_idx[by_time], np.minimum(op[by_time], end_op - 1e-6)
    fading = op > fade_from[cust_idx]
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
        * (lam / RATE_MEAN) ** (-FREQ_VALUE_ELASTICITY)
    )
    nu = np.clip(nu, 12_000, 600_000)
    target = rng.gamma(SPEND_SHAPE, nu[cust_idx] / SPEND_SHAPE)
    target = np.where(fading, FADE_BASKET * target, target)
    n_lines = np.clip(np.round(target / 30_000), 1, 6).astype(np.int64)
    n_lines[order_b2b] = rng.integers(2, 7, int(order_b2b.sum()))
    premium_p = np.clip(nu / 200_000, 0.03, 0.6)[cust_idx]
    fav_line = rng.choice(len(line_weights()), n, p=line_weights())[cust_idx]
    # Interests: a primary and a secondary group of steps per customer (row k of the table is
    # group k's cumulative step distribution; the last row is the whole catalogue's).
    table = interest_table()
    groups = len(INTEREST_GROUPS)
    primary = rng.choice(groups, n, p=[w for _g, w in INTEREST_GROUPS])
    secondary = (primary + rng.integers(1, groups, n)) % groups
    interest = np.stack([primary, secondary])[:, cust_idx]

    # Build baskets position by position (≤ 8 small vectorised steps).
    total_lines = int(n_lines.sum())
    line_order = np.repeat(np.arange(m), n_lines)
    pos = np.arange(total_lines) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    product = np.empty(total_lines, dtype=np.int64)
    prev_step = np.full(m, -1, dtype=np.int64)
    prev_line = fav_line.copy()
    lw = line_weights()
    for k in range(int(n_lines.max()) if total_lines else 0):
        sel = np.flatnonzero(pos == k)
        o = line_order[sel]
        cnt = len(sel)
        draw = rng.random(cnt)
        row = np.where(draw < 0.6, interest[0, o], np.where(draw < 0.88, interest[1, o], groups))
        step = (table[row] < rng.random(cnt)[:, None]).sum(axis=1)
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
    qty[b2b_line] = rng.integers(3, 13, int(b2b_line.sum()))  # a shop's restock, ≈ 13 % of sales
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
    trouble = rng.gamma(0.6, 1 / 0.6, n) * np.where(leaves, 2.0, 0.7)
    return_p = RETURN_RATE * trouble[cust_idx] * np.where(fading, FADE_RETURNS, 1.0)
    ret = (status == "fulfilled") & (rng.random(m) < return_p)
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
        leaves=leaves,
        fade_start=np.where(
            leaves,
            cal.start_epoch
            + (cal.to_day(np.where(leaves, np.maximum(fade_from, 0.0), 0.0)) * DAY).astype(
                np.int64
            ),
            0,
        ),
        trouble=trouble,
    )
