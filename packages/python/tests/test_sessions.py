"""The plugin in whole pytest runs of their own: xdist workers and --belvo-mock-url."""

from __future__ import annotations

from belvo_mock import start_server

# An app's test file: a link per test, and the fake each test talked to written down.
APP_TESTS = '''
import os
from belvo.client import Client

def check(belvo_mock, tmp_path_factory, n):
    api = Client(os.environ["BELVO_SECRET_ID"], os.environ["BELVO_SECRET_PASSWORD"])
    assert list(api.Links.list()) == []   # reset before every test, even on a shared fake
    created = api.Links.create("inss_br_employment", "111.444.777-35", "mock:no-mfa")
    assert created["status"] == "valid"
    out = tmp_path_factory.getbasetemp().parent / f"url-{n}"
    out.write_text(belvo_mock.url)

def test_one(belvo_mock, tmp_path_factory): check(belvo_mock, tmp_path_factory, 1)
def test_two(belvo_mock, tmp_path_factory): check(belvo_mock, tmp_path_factory, 2)
def test_three(belvo_mock, tmp_path_factory): check(belvo_mock, tmp_path_factory, 3)
def test_four(belvo_mock, tmp_path_factory): check(belvo_mock, tmp_path_factory, 4)
'''


def urls(pytester) -> set:
    return {p.read_text() for p in pytester.path.rglob("url-*")}


def test_two_xdist_workers_get_a_fake_each(pytester):
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--dist", "loadfile", "-q")
    result.assert_outcomes(passed=4)
    # loadfile puts the whole file on one worker; run it again spread over both.
    for p in pytester.path.rglob("url-*"):
        p.unlink()
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--dist", "load", "-q")
    result.assert_outcomes(passed=4)
    seen = urls(pytester)
    assert len(seen) == 2, seen
    assert all(u.startswith("http://127.0.0.1:") for u in seen)


def test_belvo_mock_url_uses_a_fake_that_is_already_running(pytester):
    with start_server() as fake:
        pytester.makepyfile(test_app=APP_TESTS)
        result = pytester.runpytest_subprocess("--belvo-mock-url", fake.url)
        result.assert_outcomes(passed=4)
        assert urls(pytester) == {fake.url}
        result.stdout.fnmatch_lines([f"belvo-mock: the fake at {fake.url}"])
        # The run used this fake: every test reset it (the journal too), so the last test's
        # link is what is left.
        created = [r for r in fake.requests() if r["path"] == "/api/links/" and r["method"] == "POST"]
        assert [r["status"] for r in created] == [201]


def test_the_url_can_also_come_from_the_environment(pytester, monkeypatch):
    with start_server() as fake:
        monkeypatch.setenv("BELVO_MOCK_URL", fake.url)
        pytester.makepyfile(test_app=APP_TESTS)
        result = pytester.runpytest_subprocess("-q", "-k", "one")
        result.assert_outcomes(passed=1, deselected=3)
        assert urls(pytester) == {fake.url}


def test_a_url_where_no_fake_answers_is_a_usage_error(pytester):
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("--belvo-mock-url", "http://127.0.0.1:9", "-q", "-k", "one")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*--belvo-mock-url http://127.0.0.1:9: no fake answers there*"])


def test_a_running_fake_with_other_keys_is_named_as_the_problem(pytester):
    with start_server(secret_id="qa-secret-id", secret_password="qa-secret-password") as fake:
        pytester.makepyfile(test_app=APP_TESTS)
        result = pytester.runpytest_subprocess("--belvo-mock-url", fake.url, "-q", "-k", "one")
        assert result.ret != 0
        result.stdout.fnmatch_lines(["*refuses the keys 'sandbox-secret-id'*belvo_mock_secret_id*"])
        # With its keys, from the ini file, the run passes.
        pytester.makeini(
            "[pytest]\nbelvo_mock_secret_id = qa-secret-id\n"
            "belvo_mock_secret_password = qa-secret-password\n"
        )
        result = pytester.runpytest_subprocess("--belvo-mock-url", fake.url, "-q", "-k", "one")
        result.assert_outcomes(passed=1, deselected=3)

