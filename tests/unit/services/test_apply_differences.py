"""How `apply` describes a change: old → new for settings, never a secret's value."""

from __future__ import annotations

from adapter.services.apply import _changed


def test_settings_show_old_and_new_values() -> None:
    assert _changed({"client_id": "new", "bind_request_ip": True}, {"client_id": "old"}) == [
        "bind_request_ip null → true",
        'client_id "old" → "new"',
    ]


def test_a_secret_is_only_said_to_be_replaced() -> None:
    assert _changed({"api_token": "s3cret-new"}, {"api_token": "s3cret-old"}) == [
        "api_token (secret replaced)"
    ]


def test_a_section_added_or_removed_whole_hides_its_secrets() -> None:
    added = _changed(
        {"b2b": {"api_base_url": "https://b2b.example", "b2b_api_token": "s3cret"}}, {"b2b": None}
    )
    assert added == [
        'b2b null → {"api_base_url": "https://b2b.example", "b2b_api_token": "(secret)"}'
    ]
    removed = _changed({"b2b": None}, {"b2b": {"b2b_api_token": "s3cret"}})
    assert "s3cret" not in removed[0]
