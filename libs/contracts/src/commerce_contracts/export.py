"""Write the contracts as JSON Schema (one file per event) and one AsyncAPI 3.0 document.

    python -m commerce_contracts.export <directory>

The files are committed under `libs/contracts/schemas/` so that other teams can read them and so
that a change shows in review; a test fails when they are stale (`make contracts` rewrites them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from commerce_contracts.envelope import Event
from commerce_contracts.registry import TOPICS


def event_schema(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:commerce:event:{cls.type_name()}:v{cls.VERSION}"
    return schema


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS:
        refs = {}
        for cls in topic.events:
            name = cls.type_name()
            messages[name] = {
                "name": name,
                "title": name,
                "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name,
                "contentType": "application/json",
                "payload": {"$ref": f"./{name}.v{cls.VERSION}.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": topic.key}}},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic.name] = {
            "address": topic.name,
            "description": f"{topic.description} Key: {topic.key}. Dead letters: {topic.dead_letter}.",
            "messages": refs,
        }
        operations[f"publish-{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic.name}"},
            "summary": f"Published by the {topic.producer} service.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Commerce suite events", "version": "1.0.0"},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """File name -> content, for every file the export writes."""
    files = {"asyncapi.json": json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"}
    for topic in TOPICS:
        for cls in topic.events:
            text = json.dumps(event_schema(cls), indent=2, sort_keys=True) + "\n"
            files[f"{cls.type_name()}.v{cls.VERSION}.json"] = text
    return files


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)
    print(f"wrote {len(render())} files to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
