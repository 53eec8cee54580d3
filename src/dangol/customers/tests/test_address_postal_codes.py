"""An address added by hand (forms, API) takes a postal code as the imports do
(``core.normalize.normalize_postal_code``): five digits, a lost leading zero put back, an old
six-digit code kept as 135-080; anything else is refused on its field."""

from typing import Any

import pytest

from dangol.core.errors import ValidationFailed
from dangol.customers import services

pytestmark = pytest.mark.django_db


def test_an_address_added_by_hand_takes_a_postal_code_as_the_import_does(
    admin: Any, make_customer: Any
) -> None:
    person = make_customer(actor=admin, full_name="우편란")
    new = services.add_address(
        customer=person, line1="서울 종로구 종로 1", postal_code="3154", actor=admin
    )
    old = services.add_address(
        customer=person, line1="서울 강남구 역삼동 1", postal_code="135 080", actor=admin
    )
    blank = services.add_address(customer=person, line1="서울 중구 을지로 1", actor=admin)
    assert (new.postal_code, old.postal_code, blank.postal_code) == ("03154", "135-080", "")

    with pytest.raises(ValidationFailed) as failed:
        services.add_address(
            customer=person, line1="서울 중구 세종대로 1", postal_code="99999", actor=admin
        )
    assert [(e.field, e.code) for e in failed.value.errors] == [("postal_code", "invalid")]
