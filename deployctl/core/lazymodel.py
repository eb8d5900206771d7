"""The base of every pydantic model here: its validator is built when it first validates.

Pydantic builds a model's validator when its class is created, which a process pays for on import
whether it uses the model or not: the Pulumi program reads no ECS setting and no health result, and
most commands use a handful of the models they import. Deferred, the program's import took ~40 ms
less for 200 apps (bench/bench_engine.py); the cost moves to the first use of the models used.
"""

from pydantic import BaseModel, ConfigDict


class LazyModel(BaseModel):
    model_config = ConfigDict(defer_build=True)


def build_now(*models: type[BaseModel]) -> None:
    """Build these models' validators now: for a command that will validate them soon and has a
    thread with time to spare before (`metrics` builds its report's while the history is read)."""
    for model in models:
        model.model_rebuild(force=True)
