"""omnicx inside a Flask app: a webhook endpoint and a CRM-side timeline page.

- ``POST /hooks/webchat`` answers only after `History.receive` committed
  (`omnicx.answer_webhook`): 200 stored, 401 forged, 200 quarantined for a
  payload omnicx could not parse, 503 when the store failed (the provider
  retries).
- ``GET /crm/contacts/<id>/timeline`` is the page a CRM agent opens: the
  contact's interactions across channels, newest first, with an "Older" link
  (the Jinja template in ``examples/templates/timeline.html``, autoescaped).

Run: python examples/flask_app.py          # exercises it with Flask's test client
     python examples/flask_app.py --serve  # Flask's development server on 127.0.0.1:8000
Needs: pip install 'omnicx[frameworks]'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from flask import Flask, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

import omnicx
from omnicx.channels import WebChat


def create_app(history: omnicx.History, chat: WebChat) -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))

    @app.post("/hooks/webchat")
    def webchat_webhook() -> ResponseReturnValue:
        answer = omnicx.answer_webhook(history, chat, body=request.get_data(),
                                       headers=dict(request.headers))
        return jsonify(dict(answer.body)), answer.status

    @app.get("/crm/contacts/<int:contact_id>/timeline")
    def contact_timeline(contact_id: int) -> ResponseReturnValue:
        try:
            contact = history.contacts.get(contact_id)
            page = history.timeline(contact, limit=20, before=request.args.get("before"))
        except omnicx.NotFoundError:
            abort(404)
        title = f"Timeline of {contact.display_name or f'contact #{contact.id}'}"
        return render_template("timeline.html", title=title, page=page)

    return app


def demo() -> None:
    chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
    with omnicx.open("crm-history.db") as history:
        client = create_app(history, chat).test_client()
        body = json.dumps({"events": [
            {"type": "message", "id": "m-1", "from": "visitor", "at": "2026-11-03T08:00:10Z",
             "text": "Mein Paket ist kaputt <b>!</b>",
             "visitor": {"id": "v-1", "email": "mia@example.org", "name": "Mia"}}]}).encode()
        stored = client.post("/hooks/webchat", data=body, headers=chat.sign(body),
                             content_type="application/json")
        again = client.post("/hooks/webchat", data=body, headers=chat.sign(body),
                            content_type="application/json")
        print("webhook:", stored.status_code, stored.json, "| again:", again.json)
        assert stored.json == {"stored": 1, "duplicates": 0, "updates": 0}
        assert again.json is not None and again.json["duplicates"] == 1
        contact = history.contacts.find("mia@example.org")
        assert contact is not None
        page = client.get(f"/crm/contacts/{contact.id}/timeline").get_data(as_text=True)
        assert "Mein Paket ist kaputt &lt;b&gt;!&lt;/b&gt;" in page  # escaped, never markup
        print("timeline page:", len(page), "bytes")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        history = omnicx.open(os.environ.get("OMNICX_DB", "crm-history.db"))
        chat = WebChat(secret=os.environ["WEBCHAT_SECRET"], site="shop.example.ch")
        create_app(history, chat).run(host="127.0.0.1", port=8000)
    else:
        demo()
