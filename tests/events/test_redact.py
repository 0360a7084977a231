"""events.redact: credentials out of URLs, and known secrets out of any text."""

from __future__ import annotations

from events.redact import MASK, Secrets, redact_url, url_secrets
from service.auth.users import new_token

PASSWORD = "Pw" + "x7" * 10


class TestRedactUrl:
    def test_passwords_and_tokens_in_each_server_of_a_list(self) -> None:
        """Every URL of a comma-separated list loses its password or token; the rest stays."""
        url = f"nats://service:{PASSWORD}@h1:4222,nats://a-token@h2:4222,h3:4222"
        assert redact_url(url) == "nats://service:***@h1:4222,nats://***@h2:4222,h3:4222"

    def test_a_url_without_credentials_is_unchanged(self) -> None:
        """Nothing to hide: the URL as it was."""
        assert redact_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


class TestUrlSecrets:
    def test_passwords_and_tokens_of_each_server(self) -> None:
        """The password of ``user:password@``, the token of ``token@``, nothing otherwise."""
        url = f"nats://service:{PASSWORD}@h1:4222, tokenvalue1@h2:4222,nats://h3:4222"
        assert url_secrets(url) == [PASSWORD, "tokenvalue1"]


class TestSecrets:
    def test_remembered_values_are_masked_wherever_they_appear(self) -> None:
        """A remembered password is masked even outside a URL (a repr, a netloc)."""
        known = Secrets()
        known.remember(PASSWORD)
        text = f"Srv(netloc='service:{PASSWORD}@127.0.0.1:4222') {PASSWORD}"
        assert known.scrub(text) == f"Srv(netloc='service:{MASK}@127.0.0.1:4222') {MASK}"

    def test_short_and_empty_values_are_not_remembered(self) -> None:
        """Masking a short value would mangle ordinary text, so it is ignored."""
        known = Secrets()
        known.remember("abc", "", None)
        assert known.scrub("abc abcdef") == "abc abcdef"

    def test_credential_shapes_are_masked_without_being_known(self) -> None:
        """URL credentials, ``Bearer …`` and ``hsl_`` tokens go even when never remembered."""
        token = new_token()
        text = (
            f"cannot connect to nats://service:{PASSWORD}@h:4222; "
            f"headers {{'authorization': 'Bearer abc.def'}}; token={token}"
        )
        scrubbed = Secrets().scrub(text)
        assert PASSWORD not in scrubbed
        assert "abc.def" not in scrubbed
        assert token not in scrubbed
        assert scrubbed == (
            "cannot connect to nats://service:***@h:4222; "
            "headers {'authorization': 'Bearer ***'}; token=hsl_***"
        )

    def test_remember_url_keeps_its_credentials(self) -> None:
        """The password of a ``NATS_URL`` is remembered, so it is masked on its own too."""
        known = Secrets()
        known.remember_url(f"nats://service:{PASSWORD}@h:4222")
        assert known.scrub(f"password {PASSWORD}!") == f"password {MASK}!"

    def test_help_text_about_tokens_is_left_alone(self) -> None:
        """Messages that explain the header (``Bearer …``, ``Bearer <token>``) stay readable."""
        text = "请提供登录令牌（Authorization: Bearer …）；send 'Authorization: Bearer <token>'"
        assert Secrets().scrub(text) == text

    def test_names_that_start_like_a_token_are_left_alone(self) -> None:
        """Only a token's exact shape is masked: metric and stream names stay."""
        text = "hsl_auth_failures_total hsl_events_since_checkpoint hsl-public"
        assert Secrets().scrub(text) == text
