from smpp.redact import redact


def test_numbers_in_log_lines_are_masked() -> None:
    assert redact("79161234567:its:129") == "7916***4567:its:129"
    assert redact("gw: screen for 79161234567 lost") == "gw: screen for 7916***4567 lost"
    assert redact("seq 123456 ok") == "seq 123456 ok"
