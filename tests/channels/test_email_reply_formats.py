"""Quote separation on the reply formats of real clients, in thirteen languages.

Attribution lines and header blocks are written as the clients write them
(Gmail, Apple Mail, Thunderbird, Outlook, Yahoo, GMX/Web.de, Lotus Notes,
Mail.ru, Yandex, Foxmail), including wrapped lines and fields without a
colon. Each format is tried top-posted, bottom-posted and interleaved.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicx import MessageEvent
from omnicx.channels import Email
from omnicx.channels.email._quotes import split_reply

ADDR = "Kundendienst <service@example.com>"

# (client and language, attribution line(s)) - each followed by ">"-quoted history
ATTRIBUTIONS = [
    ("gmail en", f"On Mon, Mar 3, 2025 at 10:02 AM {ADDR} wrote:"),
    ("gmail en wrapped", "On Mon, Mar 3, 2025 at 10:02 AM Kundendienst Example Company\n"
                         "<service@example.com> wrote:"),
    ("apple en", f"On 3 Mar 2025, at 10:02, {ADDR} wrote:"),
    ("thunderbird en", "On 03/03/2025 10:02, Kundendienst wrote:"),
    ("yahoo en", f"On Monday, March 3, 2025, 10:02:15 AM GMT+1, {ADDR} wrote:"),
    ("lotus en", f"{ADDR} wrote on 03/03/2025 10:02:52 AM:"),
    ("horde en", f"Quoting {ADDR}:"),
    ("gmail de", f"Am Mo., 3. März 2025 um 10:02 Uhr schrieb {ADDR}:"),
    ("thunderbird de", "Am 03.03.25 um 10:02 schrieb Kundendienst:"),
    ("yahoo de", f"Am Montag, 3. März 2025, 10:02:15 MEZ hat {ADDR} Folgendes geschrieben:"),
    ("lotus de", f"{ADDR} schrieb am 03.03.2025 10:02:52:"),
    ("gmx de", "Am 03.03.25 um 10:02 schrieb Kundendienst:"),
    ("gmail fr", f"Le lun. 3 mars 2025 à 10:02, {ADDR} a écrit :"),
    ("thunderbird fr", "Le 03/03/2025 à 10:02, Kundendienst a écrit :"),
    ("gmail it", f"Il giorno lun 3 mar 2025 alle ore 10:02 {ADDR} ha scritto:"),
    ("thunderbird it", "Il 03/03/2025 10:02, Kundendienst ha scritto:"),
    ("gmail es", f"El lun, 3 mar 2025 a las 10:02, {ADDR} escribió:"),
    ("thunderbird es", "El 3/3/25 a las 10:02, Kundendienst escribió:"),
    ("gmail nl", f"Op ma 3 mrt 2025 om 10:02 schreef {ADDR}:"),
    ("apple nl", f"Op 3 mrt. 2025 om 10:02 heeft {ADDR} het volgende geschreven:"),
    ("gmail pt", f"Em seg., 3 de mar. de 2025 às 10:02, {ADDR} escreveu:"),
    ("thunderbird pt", "Em 03/03/2025 10:02, Kundendienst escreveu:"),
    ("gmail pl", f"pon., 3 mar 2025 o 10:02 {ADDR} napisał(a):"),
    ("thunderbird pl", "W dniu 3.03.2025 o 10:02, Kundendienst pisze:"),
    ("apple pl", f"Wiadomość napisana przez {ADDR} w dniu 03.03.2025, o godz. 10:02:"),
    ("gmail sv", f"Den mån 3 mars 2025 kl 10:02 skrev {ADDR}:"),
    ("apple sv", f"3 mars 2025 kl. 10:02 skrev {ADDR}:"),
    ("gmail ru", f"пн, 3 мар. 2025 г. в 10:02, {ADDR}:"),
    ("thunderbird ru", "03.03.2025 10:02, Kundendienst пишет:"),
    ("apple ru", f"3 марта 2025 г., в 10:02, {ADDR} написал(а):"),
    ("mail.ru", f"Понедельник, 3 марта 2025, 10:02 +03:00 от {ADDR}:"),
    ("yandex", "03.03.2025, 10:02, \"Kundendienst\" <service@example.com>:"),
    ("gmail tr", f"Pzt, 3 Mar 2025 tarihinde 10:02 saatinde {ADDR} şunu yazdı:"),
    ("thunderbird tr", "3.03.2025 10:02 tarihinde Kundendienst yazdı:"),
    ("gmail ja", f"2025年3月3日(月) 10:02 {ADDR}:"),
    ("apple ja", f"2025/03/03 10:02、{ADDR}のメール:"),
    ("gmail zh", f"{ADDR} 于2025年3月3日周一 10:02写道："),
    ("apple zh", f"在 2025年3月3日，上午10:02，{ADDR} 写道："),
    ("gmail zh-tw", f"{ADDR} 於 2025年3月3日 週一 上午10:02寫道："),
    ("old client, no date", "Kundendienst wrote:"),
]

HISTORY = "> Guten Tag,\n> Ihre Bestellung 4711 wurde versandt.\n> Freundliche Grüsse"
ANSWER = "Danke, aber das Paket ist beschädigt angekommen."
SECOND = "Bitte schicken Sie einen Ersatz."


@pytest.mark.parametrize(("client", "attribution"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_top_posted_reply(client: str, attribution: str) -> None:
    split = split_reply(f"{ANSWER}\n\n{attribution}\n{HISTORY}\n")
    assert split.text == ANSWER
    assert split.quoted is not None and "Bestellung 4711" in split.quoted


@pytest.mark.parametrize(("client", "attribution"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_bottom_posted_reply_keeps_the_answer(client: str, attribution: str) -> None:
    split = split_reply(f"{attribution}\n{HISTORY}\n\n{ANSWER}\n")
    assert split.text == ANSWER
    assert split.quoted is not None and "Bestellung 4711" in split.quoted
    assert attribution.splitlines()[0] in split.quoted


@pytest.mark.parametrize(("client", "attribution"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_interleaved_answers_are_all_kept(client: str, attribution: str) -> None:
    body = (f"{attribution}\n> Wie lautet Ihre Bestellnummer?\n{ANSWER}\n\n"
            f"> Und Ihre Postleitzahl?\n{SECOND}\n> Freundliche Grüsse\n")
    split = split_reply(body)
    assert split.text == f"{ANSWER}\n\n{SECOND}"
    assert split.quoted is not None and "Postleitzahl" in split.quoted


# Header blocks: (client and language, block) - history below is NOT ">"-marked
HEADER_BLOCKS = [
    ("outlook en", "From: Kundendienst <service@example.com>\n"
     "Sent: Monday, March 3, 2025 10:02 AM\n"
                   "To: Anna Keller <anna@example.org>\nSubject: RE: Order 4711"),
    ("outlook en rule", "________________________________\nFrom: Kundendienst\n"
                        "Sent: Monday, March 3, 2025 10:02 AM\nTo: Anna Keller\nSubject: Order"),
    ("outlook en original", "-----Original Message-----\nFrom: Kundendienst\n"
                            "Sent: Monday, March 3, 2025 10:02 AM\nTo: Anna\nSubject: Order"),
    ("outlook mac", "From: Kundendienst <service@example.com>\n"
                    "Date: Monday, 3 March 2025 at 10:02\nTo: Anna Keller <anna@example.org>\n"
                    "Subject: Re: Order 4711"),
    ("outlook bold", "*From:* Kundendienst <service@example.com>\n*Sent:* Monday, March 3, 2025\n"
                     "*To:* Anna Keller\n*Subject:* Order"),
    ("outlook wrapped to", "From: Kundendienst <service@example.com>\nSent: Monday, March 3, 2025\n"
                           "To: Anna Keller <anna@example.org>; Bernd Meier\n<bernd@example.org>; "
                           "Carla Rossi <carla@example.org>\nCc: Team <team@example.com>\n"
                           "Subject: Order"),
    ("outlook tabs, no colons", "From\tKundendienst <service@example.com>\n"
                                "Sent\tMonday, March 3, 2025 10:02 AM\nTo\tAnna Keller\n"
                                "Subject\tOrder"),
    ("outlook de", "Von: Kundendienst <service@example.com>\nGesendet: Montag, 3. März 2025 10:02\n"
                   "An: Anna Keller <anna@example.org>\nBetreff: AW: Bestellung 4711"),
    ("outlook de original", "-----Ursprüngliche Nachricht-----\nVon: Kundendienst\n"
                            "Gesendet: Montag, 3. März 2025 10:02\nAn: Anna\nBetreff: Bestellung"),
    ("gmx de", "Gesendet: Montag, 03. März 2025 um 10:02 Uhr\n"
               "Von: \"Kundendienst\" <service@example.com>\nAn: anna@example.org\n"
               "Betreff: Re: Bestellung 4711"),
    ("gmx en", "Sent: Monday, March 03, 2025 at 10:02 AM\n"
     "From: \"Kundendienst\" <service@example.com>\n"
               "To: anna@example.org\nSubject: Re: Order 4711"),
    ("thunderbird de forward", "-------- Original-Nachricht --------\nBetreff: Bestellung\n"
                               "Datum: 03.03.2025 10:02\nVon: Kundendienst\nAn: Anna"),
    ("yahoo en", "________________________________\n From: Kundendienst <service@example.com>\n"
                 " To: Anna Keller <anna@example.org>\n Sent: Monday, March 3, 2025 10:02 AM\n"
                 " Subject: Re: Order"),
    ("outlook fr", "De : Kundendienst <service@example.com>\nEnvoyé : lundi 3 mars 2025 10:02\n"
                   "À : Anna Keller <anna@example.org>\nObjet : RE: Commande 4711"),
    ("outlook fr original", "-----Message d'origine-----\nDe : Kundendienst\n"
                            "Envoyé : lundi 3 mars 2025 10:02\nÀ : Anna\nObjet : Commande"),
    ("outlook it", "Da: Kundendienst <service@example.com>\nInviato: lunedì 3 marzo 2025 10:02\n"
                   "A: Anna Keller <anna@example.org>\nOggetto: R: Ordine 4711"),
    ("outlook es", "De: Kundendienst <service@example.com>\n"
     "Enviado el: lunes, 3 de marzo de 2025 10:02\n"
                   "Para: Anna Keller <anna@example.org>\nAsunto: RE: Pedido 4711"),
    ("outlook nl", "Van: Kundendienst <service@example.com>\n"
     "Verzonden: maandag 3 maart 2025 10:02\n"
                   "Aan: Anna Keller <anna@example.org>\nOnderwerp: RE: Bestelling 4711"),
    ("outlook pt", "De: Kundendienst <service@example.com>\n"
     "Enviada em: segunda-feira, 3 de março de 2025 10:02\n"
                   "Para: Anna Keller <anna@example.org>\nAssunto: RE: Pedido 4711"),
    ("outlook pl", "Od: Kundendienst <service@example.com>\n"
     "Wysłano: poniedziałek, 3 marca 2025 10:02\n"
                   "Do: Anna Keller <anna@example.org>\nTemat: RE: Zamówienie 4711"),
    ("outlook sv", "Från: Kundendienst <service@example.com>\nSkickat: den 3 mars 2025 10:02\n"
                   "Till: Anna Keller <anna@example.org>\nÄmne: SV: Order 4711"),
    ("outlook ru", "От: Kundendienst <service@example.com>\nОтправлено: 3 марта 2025 г. 10:02\n"
                   "Кому: Anna Keller <anna@example.org>\nТема: RE: Заказ 4711"),
    ("outlook ru original", "-----Исходное сообщение-----\nОт: Kundendienst\n"
                            "Отправлено: 3 марта 2025 г. 10:02\nКому: Anna\nТема: Заказ"),
    ("outlook tr", "Kimden: Kundendienst <service@example.com>\n"
                   "Gönderildi: 3 Mart 2025 Pazartesi 10:02\nKime: Anna Keller <anna@example.org>\n"
                   "Konu: YNT: Sipariş 4711"),
    ("outlook ja", "差出人: Kundendienst <service@example.com>\n送信日時: 2025年3月3日 10:02\n"
                   "宛先: Anna Keller <anna@example.org>\n件名: RE: 注文 4711"),
    ("outlook zh", "发件人: Kundendienst <service@example.com>\n发送时间: 2025年3月3日 10:02\n"
                   "收件人: Anna Keller <anna@example.org>\n主题: 回复: 订单 4711"),
    ("foxmail zh", "------------------ 原始邮件 ------------------\n"
                   "发件人: \"Kundendienst\"<service@example.com>;\n"
                   "发送时间: 2025年3月3日(星期一) 上午10:02\n"
                   "收件人: \"Anna\"<anna@example.org>;\n主题: 订单"),
    ("outlook zh-tw", "寄件者: Kundendienst <service@example.com>\n"
                      "寄件日期: 2025年3月3日 上午 10:02\n"
                      "收件者: Anna Keller <anna@example.org>\n主旨: 回覆: 訂單 4711"),
    ("lotus notes", "Kundendienst <service@example.com>\n03.03.2025 10:02\n\nTo\n"
                    "anna@example.org\ncc\n\nSubject\nRe: Bestellung 4711"),
    ("lotus notes de", "Kundendienst/Example@Example\n03.03.2025 10:02\n\nAn\nanna@example.org\n"
                       "Kopie\n\nThema\nRe: Bestellung 4711"),
    ("lotus forward", "----- Forwarded by Anna Keller/Example on 03.03.2025 10:02 -----"),
    ("lotus weitergeleitet",
     "----- Weitergeleitet von Anna Keller/Example am 03.03.2025 10:02 -----"),
    ("apple forward", "Begin forwarded message:\n\nFrom: Kundendienst <service@example.com>\n"
                      "Subject: Order\nDate: 3 March 2025 at 10:02:00 CET\nTo: Anna"),
]

UNMARKED_HISTORY = "Guten Tag,\nIhre Bestellung 4711 wurde versandt.\nFreundliche Grüsse"


@pytest.mark.parametrize(("client", "block"), HEADER_BLOCKS, ids=[b[0] for b in HEADER_BLOCKS])
def test_header_blocks_start_the_history(client: str, block: str) -> None:
    split = split_reply(f"{ANSWER}\n{SECOND}\n\n{block}\n\n{UNMARKED_HISTORY}\n")
    assert split.text == f"{ANSWER}\n{SECOND}"
    assert split.quoted is not None
    assert split.quoted.startswith(block.splitlines()[0].strip())
    assert "Bestellung 4711 wurde versandt" in split.quoted


@pytest.mark.parametrize("text", [
    "From: Berlin\nTo: Munich\nWe travel on Monday.",
    "To: all customers\nSubject to change.",
    "Date: 3 March\nPlease confirm the date.",
    "On Monday I wrote to you about the refund.\nStill waiting.",
    "I wrote:\nthe parcel is broken",  # no time, no address, no quote below: prose
    "An\nder Tür stand niemand.",
    "In my mail of 3 March 2025 I wrote:\nthe parcel is broken",
    "I wrote on the form:\nMy address changed.",
    "Quoting our terms:\nrefunds within 30 days.",
    "2025年3月3日に注文した商品は以下の通りです：\n椅子 2脚",
    "Am Montag habe ich Ihnen geschrieben, dass:\ndas Paket fehlt.",
    "On Monday I wrote:\nthe parcel is broken",
    "Le lundi, ma voisine a écrit :\nle colis est abîmé",
])
def test_prose_that_looks_like_a_header_is_kept(text: str) -> None:
    assert split_reply(text).text == text


@pytest.mark.parametrize("line", [
    "Sent from my iPhone", "Sent from my Samsung Galaxy smartphone.",
    "Sent from Yahoo Mail for iPhone", "Get Outlook for Android",
    "Sent from Mail for Windows", "Von meinem iPhone gesendet",
    "Gesendet mit der WEB.DE Mail App", "Gesendet von meinem Huawei",
    "Envoyé de mon iPhone", "Enviado desde mi iPhone", "Enviado do meu iPhone",
    "Inviato da iPhone", "Verzonden vanaf mijn iPhone", "Wysłano z mojego iPhone'a",
    "Skickat från min iPhone", "Отправлено с iPhone", "iPhone'umdan gönderildi",
    "iPhoneから送信", "发自我的iPhone", "從我的 iPhone 傳送",
])
def test_mobile_footers_are_the_signature(line: str) -> None:
    split = split_reply(f"{ANSWER}\n\n{line}\n")
    assert (split.text, split.signature) == (ANSWER, line)
    bottom = split_reply(f"On 03/03/2025 10:02, Support wrote:\n{HISTORY}\n\n{ANSWER}\n\n{line}")
    assert (bottom.text, bottom.signature) == (ANSWER, line)


def test_a_mailing_list_footer_is_not_the_answer() -> None:
    body = (f"On 03/03/2025 10:02, Support wrote:\n{HISTORY}\n\n{ANSWER}\n\n"
            "_______________________________________________\nusers mailing list\n"
            "users@lists.example.org\nhttps://lists.example.org/mailman/listinfo/users\n")
    split = split_reply(body)
    assert split.text == ANSWER
    assert split.signature is not None and "mailing list" in split.signature


def test_a_bottom_posted_reply_reaches_the_interaction_text() -> None:
    raw = ("From: Anna Keller <anna@example.org>\r\nTo: support@example.com\r\n"
           "Subject: Re: Bestellung 4711\r\nMessage-ID: <bottom-1@example.org>\r\n"
           "In-Reply-To: <order-4711@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "\r\n" + f"Am 03.03.25 um 10:02 schrieb Kundendienst:\n{HISTORY}\n\n{ANSWER}\n"
           ).encode()
    (event,) = Email(mailbox="support@example.com").parse(raw, {})
    assert isinstance(event, MessageEvent)
    assert event.text == ANSWER
    assert "Bestellung 4711" in event.data["quoted"]


# -- properties ---------------------------------------------------------------------------

# New text: lines that neither quote nor end like an attribution or a header field.
ANSWER_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                           blacklist_characters=">:：\t-_*"),
    min_size=1, max_size=50).map(str.strip).filter(lambda s: s and not s.startswith(("-", "_")))
ANSWERS = st.lists(ANSWER_LINE, min_size=1, max_size=4)
QUOTE_LINES = st.lists(st.text(max_size=40).map(lambda s: "> " + " ".join(s.split())),
                       min_size=1, max_size=4)


def _new_text(lines: list[str]) -> str:
    return "\n".join(lines)


@given(ANSWERS, st.sampled_from([a for _, a in ATTRIBUTIONS]), QUOTE_LINES)
def test_any_top_posted_answer_is_kept_whole(answer: list[str], attribution: str,
                                             quote: list[str]) -> None:
    split = split_reply("\n".join([*answer, "", attribution, *quote]))
    assert split.text == _new_text(answer)


@given(ANSWERS, st.sampled_from([a for _, a in ATTRIBUTIONS]), QUOTE_LINES)
def test_any_bottom_posted_answer_is_kept_whole(answer: list[str], attribution: str,
                                                quote: list[str]) -> None:
    split = split_reply("\n".join([attribution, *quote, "", *answer]))
    assert split.text == _new_text(answer)
    assert all(line not in split.text.splitlines() for line in quote)


@given(st.lists(st.tuples(QUOTE_LINES, ANSWERS), min_size=1, max_size=4),
       st.sampled_from([a for _, a in ATTRIBUTIONS]))
def test_any_interleaving_keeps_every_answer_in_order(
        turns: list[tuple[list[str], list[str]]], attribution: str) -> None:
    lines = [attribution]
    for quote, answer in turns:
        lines += [*quote, *answer]
    split = split_reply("\n".join(lines))
    assert split.text.split("\n") == [line for _, answer in turns for line in answer]


@given(ANSWERS, st.sampled_from([b for _, b in HEADER_BLOCKS]), ANSWERS)
def test_any_header_block_hides_what_follows(answer: list[str], block: str,
                                             history: list[str]) -> None:
    split = split_reply("\n".join([*answer, "", block, "", *history]))
    assert split.text == _new_text(answer)


@pytest.mark.parametrize("html", [
    # Apple Mail: the attribution outside, the history in <blockquote type="cite">
    '<html><body><div>On 3 Mar 2025, at 10:02, Kundendienst &lt;service@example.com&gt; '
    'wrote:</div><br><blockquote type="cite"><div>Ihre Bestellung 4711 wurde versandt.</div>'
    "</blockquote><div>{answer}</div></body></html>",
    # Thunderbird: the attribution in moz-cite-prefix, then the quote
    '<html><body><div class="moz-cite-prefix">Am 03.03.25 um 10:02 schrieb Kundendienst:'
    '<br></div><blockquote type="cite">Ihre Bestellung 4711 wurde versandt.</blockquote>'
    "<p>{answer}</p></body></html>",
    # Gmail: everything quoted inside gmail_quote
    '<div dir="ltr"><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Mar 3, '
    '2025 at 10:02 AM Kundendienst &lt;service@example.com&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote">Ihre Bestellung 4711 wurde versandt.</blockquote></div>'
    "<div>{answer}</div></div>",
], ids=["apple", "thunderbird", "gmail"])
def test_html_only_bottom_posted_answers_are_kept(html: str) -> None:
    raw = ("From: Anna Keller <anna@example.org>\r\nTo: support@example.com\r\n"
           "Subject: Re: Bestellung 4711\r\nMessage-ID: <html-bottom@example.org>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           + html.format(answer=ANSWER) + "\r\n").encode()
    (event,) = Email(mailbox="support@example.com").parse(raw, {})
    assert isinstance(event, MessageEvent)
    assert event.text == ANSWER
    assert "Bestellung 4711 wurde versandt" in event.data["quoted"]


@pytest.mark.parametrize("word", ["À", "Thema", "To", "cc"])
def test_an_answer_of_field_names_alone_is_not_a_lotus_header(word: str) -> None:
    # Found by hypothesis: one bare field name, repeated, is an answer, not Lotus Notes'
    # To/cc/Subject block (which names different fields).
    body = (f"{word}\n{word}\n\nOn Mon, Mar 3, 2025 at 10:02 AM Kundendienst"
            " <service@example.com> wrote:\n> ")
    assert split_reply(body).text == f"{word}\n{word}"
