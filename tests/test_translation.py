"""Translation: detection, the DeepL and LibreTranslate adapters against their
documented bodies (httpx MockTransport), storage beside the original, erasure."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import omnicx
from omnicx import DeepL, LibreTranslate, Translated, TranslationError, detect_language
from omnicx._outbound import Outgoing, SendResult
from omnicx.testing import WebChatPayloads


def deepl_transport(seen: list[httpx.Request], status: int = 200,
                    body: Any = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            return httpx.Response(status, json=body)
        texts = json.loads(request.content)["text"]
        # The documented answer: one object per text, the detected source in capitals.
        return httpx.Response(200, json={"translations": [
            {"detected_source_language": "FR", "text": f"[DE] {t}"} for t in texts]})

    return httpx.MockTransport(handler)


def test_deepl_request_and_answer() -> None:
    seen: list[httpx.Request] = []
    deepl = DeepL("secret-key:fx", transport=deepl_transport(seen))
    result = deepl.translate(["Mon colis est arrivé cassé."], target="de")
    assert result == [Translated(text="[DE] Mon colis est arrivé cassé.", source_language="fr")]
    (request,) = seen
    assert request.url == "https://api-free.deepl.com/v2/translate"
    assert request.headers["Authorization"] == "DeepL-Auth-Key secret-key:fx"
    assert json.loads(request.content) == {"text": ["Mon colis est arrivé cassé."],
                                           "target_lang": "DE"}
    deepl.translate(["x"], target="en", source="de")
    assert json.loads(seen[-1].content) == {"text": ["x"], "target_lang": "EN-GB",
                                            "source_lang": "DE"}
    assert DeepL("pro-key", transport=deepl_transport(seen))._client.base_url.host == \
        "api.deepl.com"


@pytest.mark.parametrize(("status", "body", "retryable"), [
    (403, {"message": "Authorization failure, check auth_key"}, False),
    (456, {"message": "Quota Exceeded"}, False),
    (429, {"message": "Too many requests"}, True),
    (503, None, True),
    (400, {"message": "Value for 'target_lang' not supported."}, False),
])
def test_deepl_errors_are_typed(status: int, body: Any, retryable: bool) -> None:
    deepl = DeepL("k", transport=deepl_transport([], status, body))
    with pytest.raises(TranslationError) as raised:
        deepl.translate(["Hallo"], target="fr")
    assert (raised.value.code, raised.value.retryable) == (status, retryable)
    if body:
        assert body["message"] in str(raised.value)


def test_deepl_rejects_a_malformed_answer() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"nope": []}))
    with pytest.raises(TranslationError):
        DeepL("k", transport=transport).translate(["x"], target="de")
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(TranslationError):
        DeepL("k", transport=transport).translate(["x"], target="de")


def test_libretranslate_request_and_answers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        # The documented answer for a list of texts.
        return httpx.Response(200, json={
            "translatedText": [f"[{body['target']}] {q}" for q in body["q"]],
            "detectedLanguage": [{"confidence": 90, "language": "it"} for _ in body["q"]]})

    libre = LibreTranslate("https://translate.example.ch", api_key="k",
                           transport=httpx.MockTransport(handler))
    assert libre.translate(["Il mio pacco è rotto"], target="de") == [
        Translated(text="[de] Il mio pacco è rotto", source_language="it")]
    assert json.loads(seen[0].content) == {"q": ["Il mio pacco è rotto"], "source": "auto",
                                           "target": "de", "format": "text", "api_key": "k"}
    # An older server answers a single text with strings.
    single = httpx.MockTransport(lambda r: httpx.Response(200, json={
        "translatedText": "Hallo", "detectedLanguage": {"confidence": 80, "language": "en"}}))
    assert LibreTranslate(transport=single).translate(["Hello"], target="de") == [
        Translated(text="Hallo", source_language="en")]
    refused = httpx.MockTransport(lambda r: httpx.Response(
        429, json={"error": "Slowdown: 30 per 1 minute"}))
    with pytest.raises(TranslationError, match="Slowdown") as raised:
        LibreTranslate(transport=refused).translate(["x"], target="de")
    assert raised.value.retryable


def test_detect_language() -> None:
    assert detect_language("Mein Paket ist kaputt angekommen, was nun?") == "de"
    assert detect_language("Mon colis est arrivé cassé.") == "fr"
    assert detect_language("Il mio pacco è arrivato rotto") == "it"
    assert detect_language("My parcel arrived broken") == "en"
    assert detect_language("ok") is None
    assert detect_language("   ") is None
    assert detect_language(None) is None
    with pytest.raises(omnicx.ConfigurationError):
        detect_language("Hallo", languages=["xx"])


class Widget:
    """A sender for the web chat widget of the test site (records what it sends)."""

    channel = omnicx.Channel.WEBCHAT
    address_kinds = ("webchat",)

    def __init__(self, account: str) -> None:
        self.account = account
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message)
        return SendResult(external_id=f"widget-{len(self.sent)}")


def test_translation_is_stored_beside_the_original_and_erased(tmp_path: Any) -> None:
    chat = WebChatPayloads(site="shop")
    seen: list[httpx.Request] = []
    deepl = DeepL("k", transport=deepl_transport(seen))
    with omnicx.open(tmp_path / "h.db", key=b"k" * 32) as history:
        body, headers = chat.message("m1", text="Mon colis est arrivé cassé.")
        (item,) = history.receive(chat.channel, body=body, headers=headers).interactions
        translation = history.translate(item, to="de", translator=deepl)
        assert (translation.text, translation.source_language, translation.provider) == (
            "[DE] Mon colis est arrivé cassé.", "fr", "deepl")
        # asked once: the second call is answered from the history
        assert history.translate(item.id, to="DE", translator=deepl) == translation
        assert len(seen) == 1
        assert history.interaction(item.id).text == "Mon colis est arrivé cassé."
        assert history.translations([item]) == {item.id: [translation]}
        assert history.verify().ok
        history.erase(history.contacts.get(item.contact_id))
        assert history.translations(item) == {item.id: []}
        with pytest.raises(omnicx.NotFoundError):
            history.translate(item, to="it", translator=deepl)
        assert history.verify().ok
    raw = (tmp_path / "h.db").read_bytes()
    assert b"[DE] Mon colis" not in raw


def test_send_translated_keeps_the_agents_words(history: omnicx.History) -> None:
    chat = WebChatPayloads(site="shop")
    widget = Widget(chat.channel.account)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"translations": [
            {"detected_source_language": "EN", "text": "Nous envoyons un remplacement."}]})

    deepl = DeepL("k", transport=httpx.MockTransport(handler))
    body, headers = chat.message("m1", text="Mon colis est arrivé cassé, que faire ?")
    (item,) = history.receive(chat.channel, body=body, headers=headers).interactions
    contact = history.contacts.get(item.contact_id)
    sent = history.send_translated(widget, to=contact, text="We are sending a replacement.",
                                   translator=deepl, agent_language="en")
    assert widget.sent[0].text == "Nous envoyons un remplacement."
    assert sent.text == "Nous envoyons un remplacement."
    assert json.loads(seen[0].content)["target_lang"] == "FR"
    (original,) = history.translations(sent)[sent.id]
    assert (original.original, original.language, original.text) == (
        True, "en", "We are sending a replacement.")
    # The same language: sent as written, nothing asked.
    history.send_translated(widget, to=contact, text="Merci !", translator=deepl,
                            language="fr", agent_language="fr")
    assert len(seen) == 1 and widget.sent[-1].text == "Merci !"
