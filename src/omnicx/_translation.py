"""Machine translation: detect a message's language, translate it, keep both.

- `Translator` (in ``omnicx.typing``) is the plug-in point: one method that
  translates a batch of texts. `DeepL` and `LibreTranslate` implement it over
  httpx; anything else (a model of your own) is a class with that method.
- `detect_language` names a text's language with lingua, the ``translate``
  extra (accurate on the short messages chat is made of; runs offline).
- A translation is stored as an event of kind ``translated`` beside the
  original interaction, never replacing it: in the contact's hash chain,
  sealed with the contact's key, shredded by erasure. `History.translate`
  asks the provider once per interaction and language; `History.send_translated`
  sends an agent's text in the customer's language and keeps the agent's
  original as a translation of the sent message.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._errors import ConfigurationError, NotFoundError, TranslationError
from ._ingest import record_events
from ._models import Interaction
from .storage._base import EventRecord, Store, Transaction

if TYPE_CHECKING:
    from ._history import History
    from ._models import Contact
    from ._vault import Vault
    from .typing import Translator

__all__ = ["DeepL", "LibreTranslate", "Translated", "Translation", "detect_language"]

_MISSING = "language detection needs the translate extra: pip install 'omnicx[translate]'"


@attrs.frozen(kw_only=True)
class Translated:
    """What a `Translator` returns for one text."""

    text: str
    source_language: str | None = None


@attrs.frozen(kw_only=True)
class Translation:
    """A stored translation of an interaction's text into ``language``.

    ``original`` marks the agent's own words kept beside a message that was
    sent translated (`History.send_translated`): then ``text`` is what the
    agent wrote, in ``language``, and the interaction holds what was sent.
    """

    interaction_id: int
    language: str
    text: str
    source_language: str | None
    provider: str
    original: bool = False


def _language(code: str) -> str:
    """``"DE"``, ``"pt-BR"`` as omnicx keeps languages: ISO 639-1, lower case."""
    cleaned = code.strip().replace("_", "-").lower()
    if not cleaned or not cleaned.split("-")[0].isalpha():
        raise ConfigurationError(f"not a language code: {code!r}")
    return cleaned.split("-")[0]


# -- detection -------------------------------------------------------------------------------


# The languages a European contact centre meets most. Each adds a model to memory:
# measured here, these 31 need about 740 MB in lingua's high-accuracy mode (loaded
# in about 4 s, once per process) and 90 MB in its low-accuracy mode, which is
# unreliable on texts shorter than about 120 characters.
DEFAULT_LANGUAGES = (
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hr", "hu", "it", "ja",
    "ko", "lt", "lv", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sq", "sr", "sv", "tr", "uk",
    "zh",
)


@functools.cache
def _detector(languages: tuple[str, ...], low_accuracy: bool) -> Any:
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError as exc:
        raise ConfigurationError(_MISSING) from exc
    try:
        wanted = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                  for code in languages]
    except AttributeError as exc:
        raise ConfigurationError(f"lingua does not know a language of {languages}") from exc
    # A relative distance keeps "ok" or "Danke!" from being called Hungarian or Dutch.
    builder = LanguageDetectorBuilder.from_languages(*wanted).with_minimum_relative_distance(0.05)
    return (builder.with_low_accuracy_mode() if low_accuracy else builder).build()


def detect_language(text: str | None, *, languages: Sequence[str] = DEFAULT_LANGUAGES,
                    low_accuracy: bool = False) -> str | None:
    """The ISO 639-1 code of ``text``'s language among ``languages``; ``None`` when the
    text is empty or too ambiguous to tell (``"ok"``)."""
    if not text or not text.strip():
        return None
    detector = _detector(tuple(sorted({_language(code) for code in languages})),
                         low_accuracy)
    found = detector.detect_language_of(text)
    return None if found is None else str(found.iso_code_639_1.name).lower()


# -- providers -------------------------------------------------------------------------------


def _post(client: httpx.Client, provider: str, url: str, body: Mapping[str, Any],
          headers: Mapping[str, str] | None = None) -> Any:
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TranslationError(f"{provider}: {type(exc).__name__}: {exc}", provider=provider,
                               retryable=True) from exc
    if response.status_code >= 400:
        raise _http_error(provider, response)
    try:
        return response.json()
    except ValueError as exc:
        raise TranslationError(f"{provider}: the answer is not JSON", provider=provider,
                               retryable=True) from exc


# Statuses worth retrying later: rate limits, quota windows, the provider's own trouble.
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504, 529})


def _http_error(provider: str, response: httpx.Response) -> TranslationError:
    try:
        body = response.json()
        detail = body.get("message") or body.get("error") or body.get("detail") \
            if isinstance(body, dict) else None
    except ValueError:
        detail = None
    text = str(detail) if detail else response.reason_phrase
    return TranslationError(f"{provider}: HTTP {response.status_code}: {text}",
                            provider=provider, code=response.status_code,
                            retryable=response.status_code in _RETRYABLE)


class DeepL:
    """DeepL's ``/v2/translate`` (API Free keys end in ``:fx`` and use api-free.deepl.com).

    ``english`` and ``portuguese`` pick the variant DeepL needs for those
    targets (``"EN-GB"``/``"EN-US"``, ``"PT-PT"``/``"PT-BR"``). Errors are
    `omnicx.TranslationError`: 403 (key refused) and 456 (quota exhausted)
    are permanent until someone acts, 429/5xx retryable.
    """

    name = "deepl"

    def __init__(self, auth_key: str, *, base_url: str | None = None,
                 english: str = "EN-GB", portuguese: str = "PT-PT",
                 formality: str | None = None, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        if not auth_key.strip():
            raise ConfigurationError("DeepL needs an auth_key")
        if base_url is None:
            base_url = ("https://api-free.deepl.com" if auth_key.endswith(":fx")
                        else "https://api.deepl.com")
        self._variants = {"en": english.upper(), "pt": portuguese.upper()}
        self._formality = formality
        self._client = httpx.Client(base_url=base_url, transport=transport, timeout=timeout,
                                    headers={"Authorization": f"DeepL-Auth-Key {auth_key}"})

    def close(self) -> None:
        self._client.close()

    def translate(self, texts: Sequence[str], *, target: str,
                  source: str | None = None) -> list[Translated]:
        language = _language(target)
        body: dict[str, Any] = {"text": list(texts),
                                "target_lang": self._variants.get(language, language.upper())}
        if source:
            body["source_lang"] = _language(source).upper()
        if self._formality:
            body["formality"] = self._formality
        answer = _post(self._client, self.name, "/v2/translate", body)
        try:
            found = [Translated(text=str(t["text"]),
                                source_language=_language(t["detected_source_language"])
                                if t.get("detected_source_language") else None)
                     for t in answer["translations"]]
        except (KeyError, TypeError) as exc:
            raise TranslationError(f"deepl: unexpected answer: {exc!r}",
                                   provider=self.name) from exc
        if len(found) != len(texts):
            raise TranslationError("deepl: answered a different number of texts",
                                   provider=self.name)
        return found


class LibreTranslate:
    """A LibreTranslate server's ``/translate`` (self-hosted, or a public instance with
    ``api_key``)."""

    name = "libretranslate"

    def __init__(self, url: str = "http://127.0.0.1:5000", *, api_key: str | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0) -> None:
        self._api_key = api_key
        self._client = httpx.Client(base_url=url, transport=transport, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def translate(self, texts: Sequence[str], *, target: str,
                  source: str | None = None) -> list[Translated]:
        body: dict[str, Any] = {"q": list(texts), "source": _language(source) if source else
                                "auto", "target": _language(target), "format": "text"}
        if self._api_key:
            body["api_key"] = self._api_key
        answer = _post(self._client, self.name, "/translate", body)
        try:
            translated = answer["translatedText"]
            detected = answer.get("detectedLanguage")
            if isinstance(translated, str):  # an old server answers one text with a string
                translated, detected = [translated], [detected]
            if not isinstance(detected, list):
                detected = [detected] * len(translated)
            found = [Translated(text=str(text), source_language=(
                _language(d["language"]) if isinstance(d, dict) and d.get("language")
                else (_language(source) if source else None)))
                for text, d in zip(translated, detected, strict=True)]
        except (KeyError, TypeError, ValueError) as exc:
            raise TranslationError(f"libretranslate: unexpected answer: {exc!r}",
                                   provider=self.name) from exc
        if len(found) != len(texts):
            raise TranslationError("libretranslate: answered a different number of texts",
                                   provider=self.name)
        return found


def translator_name(translator: object) -> str:
    name = getattr(translator, "name", None)
    return str(name) if name else type(translator).__name__.lower()



# -- stored translations ----------------------------------------------------------------------

_KIND = "translated"


def _event_id(language: str, original: bool) -> str:
    return f"translated:{'original:' if original else ''}{language}"


def _from_event(record: EventRecord) -> Translation | None:
    data = record.data
    if not data or "text" not in data or record.interaction_id is None:
        return None  # erased: the content is gone with the contact's key
    return Translation(interaction_id=record.interaction_id, language=str(data["language"]),
                       text=str(data["text"]), source_language=data.get("source_language"),
                       provider=str(data.get("provider", "")),
                       original=bool(data.get("original", False)))


def stored(store: Store, vault: Vault, interaction_ids: Sequence[int]
           ) -> dict[int, list[Translation]]:
    """The stored translations of these interactions, by interaction id."""
    found: dict[int, list[Translation]] = {iid: [] for iid in interaction_ids}
    with store.reading() as tx:
        for iid in interaction_ids:
            item = tx.interaction(iid)
            if item is None:
                raise NotFoundError(f"no interaction #{iid}")
            records = [e for e in tx.events(iid) if e.kind == _KIND]
            for record in vault.open_events(tx, item.contact_id, records):
                translation = _from_event(record)
                if translation is not None:
                    found[iid].append(translation)
    return found


def record(store: Store, vault: Vault, interaction: Interaction, translation: Translation,
           at: dt.datetime) -> Translation:
    """Store ``translation`` beside ``interaction`` (once per language and kind)."""

    def work(tx: Transaction) -> None:
        (event_id,) = tx.new_ids("events", 1)
        sealer = vault.sealer(tx)
        record_events(tx, sealer, [EventRecord(
            id=event_id, interaction_id=interaction.id, channel=interaction.channel.value,
            account=interaction.account, external_id=interaction.external_id,
            event_id=_event_id(translation.language, translation.original), kind=_KIND,
            occurred_at=at, received_at=at, data={
                "language": translation.language, "text": translation.text,
                "source_language": translation.source_language,
                "provider": translation.provider, "original": translation.original})],
            interaction.contact_id)
        sealer.flush()

    store.atomic(work)
    return translation


def translate(store: Store, vault: Vault, interaction: Interaction, *, to: str,
              translator: Translator, at: dt.datetime) -> Translation:
    """``interaction``'s text in ``to``: the stored translation, or the provider's."""
    language = _language(to)
    for existing in stored(store, vault, [interaction.id])[interaction.id]:
        if existing.language == language and not existing.original:
            return existing
    text = interaction.text
    if interaction.erased:
        raise NotFoundError(f"interaction #{interaction.id} was erased")
    if not text:
        raise ConfigurationError(f"interaction #{interaction.id} has no text to translate")
    (result,) = translator.translate([text], target=language)
    return record(store, vault, interaction, Translation(
        interaction_id=interaction.id, language=language, text=result.text,
        source_language=result.source_language, provider=translator_name(translator)), at)


def customer_language(history: History, contact: Contact, *, look_back: int = 20) -> str | None:
    """The language of the customer's latest inbound message that tells one."""
    for item in history.timeline(contact, limit=look_back).items:
        if str(item.direction) == "inbound" and item.text:
            found = detect_language(item.text)
            if found is not None:
                return found
    return None
