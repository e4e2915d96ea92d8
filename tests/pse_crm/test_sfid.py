import pytest

from pse_crm.sfid import InvalidSalesforceId, to_18


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
        ("0016F00002ZGrfG", "0016F00002ZGrfGQAT"),
        ("006000000000000", "006000000000000AAA"),
    ],
)
def test_15_to_18(short, long):
    assert to_18(short) == long
    assert to_18(long) == long


@pytest.mark.parametrize("bad", ["", "123", "001D000000IqhSLIAA", "001D000000Iqh-L", "x" * 19])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(InvalidSalesforceId):
        to_18(bad)
