"""The ClassAd text forms round-trip through classad2 and refuse what they cannot parse."""

import classad2
import pytest

from glideinwms_factory.lib import classad

# A glidefactory ad in the form condor_advertise takes (classads.md §1, §4): strings with
# escaped quotes and `\n` sequences, unquoted integers and booleans, an expression.
EXAMPLE_AD = r"""MyType = "glidefactory"
GlideinMyType = "glidefactory"
Name = "ce01@gfactory_instance@myfactory"
FactoryName = "myfactory"
GlideinName = "gfactory_instance"
EntryName = "ce01"
GlideinWMSVersion = "glideinWMS 0.1.0"
DaemonStartTime = 1740830400
UpdateSequenceNumber = 3
SupportedSignTypes = "sha1"
PubKeyID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PubKeyType = "RSA"
PubKeyValue = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
GLIDEIN_In_Downtime = False
GLIDEIN_Downtime_Comment = "say \"hi\""
GLIDEIN_CPUS = 8
GlideinParamGLIDEIN_Collector = "Fake"
GLIDEIN_Requirements = (TARGET.Memory > 2048) && stringListMember("x","x,y")
"""


def test_old_form_round_trips_example_ad():
    ad = classad.parse_old(EXAMPLE_AD)
    assert ad["PubKeyValue"].startswith("-----BEGIN PUBLIC KEY-----\\nMIIB")
    assert ad["GLIDEIN_In_Downtime"] is False
    assert ad["GLIDEIN_CPUS"] == 8
    assert ad["GLIDEIN_Downtime_Comment"] == 'say "hi"'
    again = classad.parse_old(classad.format_old(ad))
    assert classad.to_python(again) == classad.to_python(ad)
    # Same attribute lines as the input, order aside (classad2 prints booleans lower-case).
    expected = EXAMPLE_AD.replace("= False", "= false").splitlines()
    assert sorted(classad.format_old(ad).splitlines()) == sorted(expected)


def test_many_ads_are_blank_line_separated_without_leading_blank():
    ads = [classad.to_classad({"MyType": "glideclient", "Name": f"r{i}"}) for i in range(3)]
    text = classad.format_old_many(ads)
    assert not text.startswith("\n")
    assert text.count("\n\n") == 2
    assert [ad["Name"] for ad in classad.parse_old_many(text)] == ["r0", "r1", "r2"]


@pytest.mark.parametrize(
    "text",
    [
        "A = 1\nB = (\nC = 3\n",  # classad2 alone would return just A
        'A = "unterminated\n',
        "just words\n",
        "",
    ],
)
def test_syntax_errors_are_refused(text):
    with pytest.raises(classad.ClassAdSyntaxError):
        classad.parse_old(text)


def test_json_round_trip():
    ad = classad.parse_old(EXAMPLE_AD)
    (back,) = classad.parse_json(classad.format_json([ad]))
    assert classad.to_python(back) == classad.to_python(ad)
    assert isinstance(back["GLIDEIN_Requirements"], classad2.ExprTree)


def test_writer_renames_plus_and_colon():
    ad = classad.to_classad({"+Owner": "x", "TotalPerClass_fe:sc": 2})
    assert set(ad.keys()) == {"_PLUS_Owner", "TotalPerClass_fe__sc"}


def test_names_with_dots_are_read():
    ad = classad.parse_old('GlideinEncParamce01.idtoken = "abc"\nA = 1\n')
    assert ad["GlideinEncParamce01.idtoken"] == "abc"


def test_dotted_names_are_written_unquoted_and_read_back():
    ad = classad.to_classad({"GlideinEncParamce01.idtoken": "abc", "A": 1})
    text = classad.format_old(ad)
    assert "GlideinEncParamce01.idtoken = " in text and "'" not in text
    assert classad.parse_old(text)["GlideinEncParamce01.idtoken"] == "abc"
