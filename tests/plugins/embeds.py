"""
title: Embeds
"""

from fastapi.responses import HTMLResponse, JSONResponse


class Action:
    async def action(self, body, __event_emitter__):
        await __event_emitter__({"type": "status", "data": {"description": "drawing"}})
        mode = body["mode"]
        if mode == "inline":
            return HTMLResponse("<b>chart</b>", headers={"Content-Disposition": "inline"})
        if mode == "inline_404":
            return HTMLResponse("<i>gone</i>", status_code=404, headers={"Content-Disposition": "inline"})
        if mode == "with_context":
            return HTMLResponse("<b>x</b>", headers={"Content-Disposition": "inline"}), {"rows": 3}
        if mode == "attachment":
            return HTMLResponse("<p>page</p>")
        if mode == "tuple_html":
            return "<svg/>", {"Content-Disposition": "inline", "Content-Type": "text/html"}
        if mode == "tuple_location":
            return "ignored", {"content-disposition": "inline", "location": "https://example.com/embed"}
        if mode == "tuple_plain":
            return "a", "b"
        if mode == "triple":
            return 1, 2, 3
        if mode == "json_response":
            return JSONResponse({"n": 1})
        raise ValueError(mode)
