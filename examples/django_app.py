"""omnicx inside a Django project: a webhook view and a CRM-side timeline page.

One file holds a minimal Django project (settings, URLs, views), so it runs
as is; in a real project the views go into an app's ``views.py``, the
patterns into ``urls.py``, and ``HISTORY``/``CHAT`` into a module that opens
them once per process.

- ``POST /hooks/webchat`` answers only after `History.receive` committed
  (`omnicx.answer_webhook`): 200 stored, 401 forged, 200 quarantined for a
  payload omnicx could not parse, 503 when the store failed (the provider
  retries). It is exempt from CSRF: the provider's signature authenticates it.
- ``GET /crm/contacts/<id>/timeline`` is the page a CRM agent opens, from a
  Django template (autoescaped).

Run: python examples/django_app.py          # exercises it with Django's test client
     python examples/django_app.py --serve  # Django's development server on 127.0.0.1:8000
Needs: pip install 'omnicx[frameworks]'
"""

from __future__ import annotations

import json
import os
import sys

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "only-for-this-example"),
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        USE_TZ=True,
    )
    django.setup()

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import omnicx
from omnicx.channels import WebChat

HISTORY: omnicx.History | None = None
CHAT: WebChat | None = None

TIMELINE = engines["django"].from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1>
<ol class="timeline">
{% for item in page.items %}
  <li class="{{ item.direction.value }}">
    <time datetime="{{ item.occurred_at.isoformat }}">{{ item.occurred_at|date:"Y-m-d H:i" }}
      UTC</time> <span class="channel">{{ item.channel.value }}</span>
    {% if item.subject %}<strong>{{ item.subject }}</strong>{% endif %}
    <p>{{ item.text|default:"" }}</p>
  </li>
{% empty %}<li>No interactions yet.</li>{% endfor %}
</ol>
{% if page.next_cursor %}<a rel="next" href="?before={{ page.next_cursor }}">Older</a>{% endif %}
</body></html>""")


def setup(history: omnicx.History, chat: WebChat) -> None:
    """Give the views their history and channel (once, at start-up)."""
    global HISTORY, CHAT
    HISTORY, CHAT = history, chat


def _history() -> tuple[omnicx.History, WebChat]:
    if HISTORY is None or CHAT is None:
        raise omnicx.ConfigurationError("call django_app.setup(history, chat) first")
    return HISTORY, CHAT


@csrf_exempt
@require_POST
def webchat_webhook(request: HttpRequest) -> HttpResponse:
    history, chat = _history()
    answer = omnicx.answer_webhook(history, chat, body=request.body,
                                   headers=dict(request.headers))
    return JsonResponse(dict(answer.body), status=answer.status)


@require_GET
def contact_timeline(request: HttpRequest, contact_id: int) -> HttpResponse:
    history, _ = _history()
    try:
        contact = history.contacts.get(contact_id)
        page = history.timeline(contact, limit=20, before=request.GET.get("before"))
    except omnicx.NotFoundError as exc:
        raise Http404(str(exc)) from exc
    title = f"Timeline of {contact.display_name or f'contact #{contact.id}'}"
    return HttpResponse(TIMELINE.render({"title": title, "page": page}, request))


urlpatterns = [
    path("hooks/webchat", webchat_webhook),
    path("crm/contacts/<int:contact_id>/timeline", contact_timeline),
]


def demo() -> None:
    from django.test import Client

    chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
    with omnicx.open("crm-history.db") as history:
        setup(history, chat)
        client = Client()  # enforces nothing about CSRF; the view is exempt anyway
        body = json.dumps({"events": [
            {"type": "message", "id": "m-1", "from": "visitor", "at": "2026-11-03T08:00:10Z",
             "text": "Il pacco è arrivato rotto",
             "visitor": {"id": "v-1", "email": "mia@example.org", "name": "Mia"}}]}).encode()
        stored = client.post("/hooks/webchat", data=body, content_type="application/json",
                             headers=chat.sign(body))
        forged = client.post("/hooks/webchat", data=body, content_type="application/json",
                             headers={"X-Omnicx-Signature": "sha256=00"})
        print("webhook:", stored.status_code, stored.json(), "| forged:", forged.status_code)
        assert stored.json()["stored"] == 1 and forged.status_code == 401
        contact = history.contacts.find("mia@example.org")
        assert contact is not None
        page = client.get(f"/crm/contacts/{contact.id}/timeline").content.decode()
        assert "Il pacco è arrivato rotto" in page
        print("timeline page:", len(page), "bytes")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        from django.core.management import execute_from_command_line

        setup(omnicx.open(os.environ.get("OMNICX_DB", "crm-history.db")),
              WebChat(secret=os.environ["WEBCHAT_SECRET"], site="shop.example.ch"))
        execute_from_command_line([sys.argv[0], "runserver", "127.0.0.1:8000", "--noreload"])
    else:
        demo()
