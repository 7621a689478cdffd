"""What mail clients write above quoted history, in the languages customers write in.

Data for `omnicx.channels.email._quotes`, kept apart from the logic so that
a new client or language is one line here. The formats were taken from the
clients' own output as public quote-parsing projects record it in their
test fixtures (github/email_reply_parser, mailgun/talon, closeio/quotequail,
alfonsrv/mail-parser-reply) and from the clients' localisation strings:

- attribution lines: Gmail, Apple Mail, Thunderbird, Outlook.com, Yahoo,
  GMX/Web.de, Lotus Notes, Horde, mobile clients; in en, de, fr, it, es, nl,
  pt, pl, sv, da/no, ru, tr, ja, zh (and ko);
- "original message" separators of Outlook, Thunderbird, Lotus Notes,
  Foxmail/QQ and Apple Mail's forwards;
- the field names of Outlook-style header blocks (``From:``/``Von:``/
  ``De :``/``От:``/``差出人:``/``发件人:`` ...) by the field they name;
- the "Sent from my ..." lines of mobile clients.

Every pattern is anchored and length-bounded: the splitter runs them on
lines of at most a few hundred characters, so none can backtrack far.
"""

from __future__ import annotations

import re

__all__ = ["ATTRIBUTION", "FIELD", "FIELD_KINDS", "LIST_FOOTER", "LOTUS_BARE_FIELD",
           "MOBILE", "SEPARATOR", "VERB_ATTRIBUTION"]

# Attribution lines that start with a language's own opening words. Matched
# against one line or up to three lines joined (clients wrap long ones).
ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\s.{1,250}\swrote\s?:"                                   # en: Gmail, Apple, Yahoo, TB
    r"|.{1,250}\swrote\son\s\d{1,4}[./-].{1,120}:"              # en: Lotus Notes
    r"|Quoting\s.{1,200}[@<].{0,200}:"                           # en: Horde
    r"|Am\s.{1,250}\s(?:schrieb|Folgendes\sgeschrieben).{0,200}:"  # de: Gmail, Apple, TB, Yahoo
    r"|.{1,250}\sschrieb\sam\s\d{1,4}[./-].{1,120}:"            # de: Lotus Notes
    r"|Zitat\svon\s.{1,200}[@<].{0,200}:"                        # de: Horde
    r"|Le\s.{1,250}\sa\s[ée]crit\s?:"                            # fr
    r"|.{1,250}\sa\s[ée]crit\sle\s\d{1,4}[./-].{1,120}:"        # fr: Lotus Notes
    r"|El\s.{1,250}\sescribi[óo]\s?:"                            # es
    r"|Il\s.{1,250}\sha\sscritto\s?:"                            # it (incl. "Il giorno ...")
    r"|Op\s.{1,250}\s(?:schreef|het\svolgende\sgeschreven).{0,200}:"  # nl
    r"|Em\s.{1,250}\sescreveu\s?:"                               # pt
    r"|(?:W\sdniu|Dnia)\s.{1,250}\s(?:pisze|napisa[łl](?:\(a\))?|nades[łl]a[łl]).{0,200}:"  # pl
    r"|Wiadomo[śs][ćc]\snapisana\sprzez\s.{1,250}:"              # pl: Apple Mail
    r"|(?:Den|P[åa])\s.{1,250}\sskre(?:i)?v.{0,200}:"            # sv, da, no
    r"|.{1,100}\d{4}\sг\.,?\s(?:в\s)?\d{1,2}:\d{2},?\s.{1,200}:"  # ru: Gmail (no verb)
    r"|.{1,120}\d{1,2}:\d{2}.{0,30}\sот\s.{1,200}:"              # ru: Mail.ru
    r"|\d{4}年\d{1,2}月\d{1,2}日.{0,40}\d{1,2}:\d{2}.{1,200}[:：]"  # ja: Gmail
    r"|.{1,250}のメール\s?[:：]"                                  # ja: Apple Mail
    r"|\d{4}년\s?\d{1,2}월\s?\d{1,2}일.{0,40}\d{1,2}:\d{2}.{1,200}[:：]"  # ko: Gmail
    r"|\d{1,4}[./-]\d{1,2}[./-]\d{1,4},?\s\d{1,2}:\d{2}(?::\d{2})?,?\s.{0,200}@.{1,200}:"  # Yandex
    r")$",
    re.IGNORECASE,
)

# The verbs that end an attribution ("... wrote:", "... 写道："), or that
# stand before the writer's name ("... schrieb Anna:"). Such a line is an
# attribution when it also names a time of day or an address, or when a
# ">"-quote follows it ("In my mail of 3 March I wrote:" alone is prose).
VERB_ATTRIBUTION = re.compile(
    r"^.{1,250}\s?(?:"
    r"wrote|schrieb|geschrieben|a\s[ée]crit|escribi[óo]|ha\sscritto|schreef|escreveu|"
    r"napisa[łl](?:\(a\))?|pisze|skrev|пишет|написал(?:\(а\)|а)?|yazd[ıi]|"
    r"写道|寫道|書きました|님이\s작성"
    r")\s?[:：]$"
    r"|^.{1,120}\s(?:schrieb|schreef|skrev)\s.{1,200}:$",
    re.IGNORECASE,
)

# "-----Original Message-----" and its kin: a rule before the words (the closing
# rule is optional), or Apple Mail's "Begin forwarded message:".
SEPARATOR = re.compile(
    r"^[-_=*]{2,}\s?(?:"
    r"Original\s?Message|Original-Nachricht|Urspr[üu]ngliche\s(?:Nachricht|Mitteilung)|"
    r"Message\sd'origine|Message\soriginal|Mensaje\soriginal|Messaggio\soriginale|"
    r"Oorspronkelijk\sbericht|Originalbericht|Mensagem\soriginal|"
    r"Wiadomo[śs][ćc]\soryginalna|Oryginalna\swiadomo[śs][ćc]|Originalmeddelande|"
    r"Ursprungligt\smeddelande|Opprinnelig\smelding|Oprindelig\smeddelelse|"
    r"Исходное\s(?:сообщение|письмо)|Пересылаемое\sсообщение|Пересланное\sсообщение|"
    r"[ÖO]zg[üu]n\s[İI]leti|Orijinal\s(?:Mesaj|[İI]leti)|[İI]letilen\sMesaj|"
    r"元のメッセージ|転送されたメッセージ|原始邮件|原始信息|原始郵件|原始訊息|转发邮件|"
    r"Forwarded\s(?:message|by\s.{1,120})|Weitergeleitete\sNachricht|"
    r"Weitergeleitet\svon\s.{1,120}|Message\stransf[ée]r[ée]|Mensaje\sreenviado|"
    r"Messaggio\sinoltrato|Doorgestuurd\sbericht|Mensagem\sencaminhada|"
    r"Wiadomo[śs][ćc]\sprzekazana|Vidarebefordrat\smeddelande|Videresendt\smelding"
    r")\s?(?:[-_=*]{2,})?$"
    r"|^(?:Begin\sforwarded\smessage|Anfang\sder\sweitergeleiteten\s(?:Nachricht|E-Mail)|"
    r"D[ée]but\sdu\smessage\sr[ée]exp[ée]di[ée]|Inicio\sdel\smensaje\sreenviado|"
    r"Inizio\smessaggio\sinoltrato|Begin\sdoorgestuurd\sbericht|"
    r"In[íi]cio\sda\smensagem\sreencaminhada)\s?:$",
    re.IGNORECASE,
)

# Field names of Outlook-style header blocks, by the field they name.
_FIELDS: dict[str, tuple[str, ...]] = {
    "from": ("From", "Von", "De", "Da", "Van", "Från", "Fra", "Od", "От", "Kimden", "Gönderen",
             "Expéditeur", "Remitente", "Afzender", "Nadawca", "Avsändare", "Absender",
             "差出人", "发件人", "寄件者", "寄件人", "보낸 사람", "보낸사람"),
    "date": ("Sent", "Date", "Gesendet", "Datum", "Envoyé", "Envoyé le", "Date d'envoi",
             "Enviado", "Enviado el", "Enviada em", "Enviado em", "Fecha", "Inviato", "Data",
             "Verzonden", "Verstuurd", "Wysłano", "Wysłane", "Skickat", "Sendt", "Отправлено",
             "Дата", "Gönderildi", "Gönderilme Tarihi", "Tarih", "送信日時", "日付", "发送时间",
             "日期", "寄件日期", "发送日期", "時間", "보낸 날짜"),
    "to": ("To", "An", "À", "A", "Para", "Aan", "Do", "Till", "Til", "Кому", "Kime", "宛先",
           "收件人", "收件者", "받는 사람"),
    "cc": ("Cc", "Kopie", "Copie", "Kopia", "DW", "Копия", "Bilgi", "抄送", "副本", "참조",
           "Bcc"),
    "subject": ("Subject", "Betreff", "Objet", "Sujet", "Asunto", "Oggetto", "Onderwerp",
                "Assunto", "Temat", "Ämne", "Emne", "Тема", "Konu", "件名", "主题", "主旨",
                "Thema", "제목"),
}
FIELD_KINDS: dict[str, str] = {
    name.casefold(): kind for kind, names in _FIELDS.items() for name in names}
_NAMES = "|".join(sorted((re.escape(n) for n in FIELD_KINDS), key=len, reverse=True))
# A field line: the name (bold in text made from HTML: *From:*), then a colon
# (ASCII or full-width), a tab or two spaces; values may be missing.
FIELD = re.compile(rf"^[*\s]{{0,3}}({_NAMES})[*\s]{{0,3}}(?:[:：]|\t| {{2,}})", re.IGNORECASE)
# Lotus Notes writes "To", "cc", "Subject" alone on a line, the value below.
LOTUS_BARE_FIELD = re.compile(
    r"^(?:To|cc|bcc|Subject|An|Kopie|Blindkopie|Thema|Betreff|Objet|Copie|À)$", re.IGNORECASE)

MOBILE = re.compile(
    r"^(?:"
    r"Sent\sfrom\s.{1,60}|Sent\svia\s.{1,60}|Get\sOutlook\sfor\s.{1,40}|"
    r"Von\smeinem\s.{1,60}\sgesendet\.?|Gesendet\s(?:von|mit)\s.{1,60}|"
    r"Envoy[ée]\s(?:de|depuis)\s.{1,60}|Enviado\s(?:desde|do|de)\s.{1,60}|"
    r"Inviato\s(?:da|dal)\s.{1,60}|Verzonden\s(?:vanaf|met)\s.{1,60}|"
    r"Verstuurd\svanaf\s.{1,60}|Wys[łl]ano\sz\s.{1,60}|Wys[łl]ane\sz\s.{1,60}|"
    r"Skickat\sfr[åa]n\s.{1,60}|Sendt\sfra\s.{1,60}|Отправлено\sс\s.{1,60}|"
    r".{1,40}(?:'?[uü]mdan|'?dan|'?den)\sg[öo]nderildi\.?|"
    r".{1,30}から送信|发自我的.{1,30}|從我的.{1,30}傳送|来自.{1,30}"
    r")$",
    re.IGNORECASE,
)

LIST_FOOTER = re.compile(r"mailing\slist|listinfo|mailman|unsubscribe|abmelden|"
                         r"se\sd[ée]sabonner|darse\sde\sbaja", re.IGNORECASE)
