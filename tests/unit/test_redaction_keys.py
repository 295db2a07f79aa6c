"""Redaction by key name: which names are secret-ish, and every place a key can sit."""

from __future__ import annotations

import pytest

from bot.redaction import Redactor, is_secret_key

REDACTOR = Redactor()


@pytest.mark.parametrize(
    "name",
    [
        "password", "DB_PASSWORD", "db-passwd", "pwd", "smtp_pass", "x-api-key", "apiKey",
        "API_KEY", "apikey", "slackToken", "GITHUB_TOKEN", "aws.secret_access_key",
        "AWS_SECRET_ACCESS_KEY", "client_secret", "clientSecret", "private_key", "credentials",
        "auth", "X-Auth", "Authorization", "session", "sessionid", "session_id", "cookie",
        "signature", "sig", "AccountKey", "SharedAccessKey", "SharedAccessSignature",
        "connection_string", "SECRET_KEY_BASE", "password_b64", "token2", "dbpassword",
        "routing_key", "passphrase",
    ],
)  # fmt: skip
def test_secret_ish_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "token_count", "prompt_tokens", "max_tokens", "passed", "author", "authors", "oauth",
        "auth_type", "secret_name", "secretRef", "password_file", "key", "keyword", "monkey",
        "private_key_id", "access_key_id", "token_type", "session_timeout", "compass", "bypass",
        "signature_algorithm", "cookie_name", "alertname", "instance", "",
    ],
)  # fmt: skip
def test_ordinary_names(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DB_PASSWORD=s3cr3t!", "DB_PASSWORD=[REDACTED:password]"),
        ("export API_KEY=abc123def", "export API_KEY=[REDACTED:secret]"),
        ("slackToken: abcdef0123", "slackToken: [REDACTED:secret]"),
        ('{"client_secret": "Zx9-abc DEF"}', '{"client_secret": "[REDACTED:secret]"}'),
        ("{'token': 'zz top'}", "{'token': '[REDACTED:secret]'}"),
        ('{\\"password\\":\\"p w\\"}', '{\\"password\\":\\"[REDACTED:password]\\"}'),
        ('db_password="hunter2" team="a"', 'db_password="[REDACTED:password]" team="a"'),
        ("map[password:hunter2 user:bob]", "map[password:[REDACTED:password] user:bob]"),
        (
            "GET /cb?code=1&access_token=abc&sig=Zm9v&page=2",
            "GET /cb?code=1&access_token=[REDACTED:secret]&sig=[REDACTED:secret]&page=2",
        ),
        ("https://bob:pa55@git.example.net/x", "https://bob:[REDACTED:password]@git.example.net/x"),
        ("redis://:pa55w0rd@cache:6379/0", "redis://:[REDACTED:password]@cache:6379/0"),
        (
            "Authorization: Digest username=bob, nonce=abc",
            "Authorization: [REDACTED:authorization]",
        ),
        ("Cookie: sid=abc123; theme=dark", "Cookie: [REDACTED:cookie]"),
        ("Set-Cookie: sid=abc123; HttpOnly", "Set-Cookie: [REDACTED:cookie]"),
        (
            "Server=db;User Id=sa;Password=Hunter2!;Encrypt=true",
            "Server=db;User Id=sa;Password=[REDACTED:password];Encrypt=true",
        ),
        (
            "AccountName=acct;AccountKey=abcDEF123+/==;EndpointSuffix=core.windows.net",
            "AccountName=acct;AccountKey=[REDACTED:secret];EndpointSuffix=core.windows.net",
        ),
        (
            "jdbc:postgresql://db/app?user=app&password=pw1",
            "jdbc:postgresql://db/app?user=app&password=[REDACTED:password]",
        ),
        ("--password=hunter2 --verbose", "--password=[REDACTED:password] --verbose"),
    ],
)
def test_key_value_forms_in_free_text(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "password: required",
        "auth=false",
        "token: null",
        "token_count=12 passed=3",
        "if token == null return",
        "pass rate 98%",
    ],
)
def test_placeholders_and_lookalikes_are_kept(text: str) -> None:
    assert REDACTOR.redact(text) == text


def test_labels_mapping_redacts_values_by_key() -> None:
    labels = {
        "alertname": "HighErrorRate",
        "db_password": "plainword",
        "slackToken": "xyz",
        "token_count": "512",
        "author": "alice",
        "instance": "10.0.0.7:9100",
    }
    assert REDACTOR.redact_mapping(labels) == {
        "alertname": "HighErrorRate",
        "db_password": "[REDACTED:password]",
        "slackToken": "[REDACTED:secret]",
        "token_count": "512",
        "author": "alice",
        "instance": "[REDACTED:ipv4]:9100",
    }
