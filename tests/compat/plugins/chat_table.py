"""
title: Chat Table
author: community-style
version: 0.3
description: Tabulates the conversation (role, words, text) as Markdown and CSV.
"""

# Imitates: community data/analysis actions that build a pandas DataFrame from the chat
# without declaring pandas (Open WebUI ships it). The Markdown table is written by hand,
# as careful plugins do: DataFrame.to_markdown needs tabulate, which Open WebUI lacks.

import pandas as pd


def markdown_table(frame):
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


class Action:
    async def action(self, body: dict, __event_emitter__=None) -> dict:
        frame = pd.DataFrame(body["messages"], columns=["role", "content"])
        frame.insert(1, "words", frame["content"].str.split().str.len())
        table = markdown_table(frame)
        if __event_emitter__:
            await __event_emitter__({"type": "message", "data": {"content": "\n\n" + table}})
        return {
            "rows": len(frame),
            "words": int(frame["words"].sum()),
            "csv": frame.to_csv(index=False),
            "markdown": table,
        }
