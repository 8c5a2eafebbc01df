"""frontendmonitorlink.txt: one line per frontend, junk from ads never written."""

from glideinwms_factory.frontend_links import links, write_links


def test_one_line_per_frontend_sorted(tmp_path):
    ads = [
        {"FrontendName": "vofe", "WebMonitoringURL": "http://fe.example.org/vofe/monitor"},
        {"FrontendName": "vofe", "WebMonitoringURL": "http://fe.example.org/vofe/monitor"},
        {"FrontendName": "cms", "WebMonitoringURL": "https://cms.example.org/mon"},
        {"FrontendName": "bad name", "WebMonitoringURL": "http://x"},
        {"FrontendName": "evil", "WebMonitoringURL": "javascript:alert(1)"},
        {"FrontendName": "nourl"},
    ]
    assert links(ads) == {
        "vofe": "http://fe.example.org/vofe/monitor",
        "cms": "https://cms.example.org/mon",
    }
    write_links(tmp_path, ads)
    assert (tmp_path / "frontendmonitorlink.txt").read_text() == (
        "cms, https://cms.example.org/mon\nvofe, http://fe.example.org/vofe/monitor\n"
    )
