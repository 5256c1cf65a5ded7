"""What a runtime is, declared once: name, formats, pip extra, providers, canary, options.

Each adapter module declares its ``DESCRIPTOR`` at the top, and the registry in
``runtimes/__init__.py`` lists the adapter modules (one line each). Everything outside the
agent that used to hard-code runtime names (the plan's validation, ``bench`` defaults, the SSH
installer's extras, the nightly canary, the packaging test) reads descriptors instead. Reading
a descriptor never imports the runtime itself: adapter modules import their runtime package
only inside ``load``/``describe``, so the controller can validate a plan for OpenVINO on a
machine without OpenVINO.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every model format a runtime may load, and the suffix its file carries on a device (where
# runtimes such as OpenVINO find an IR's .bin beside its .xml by name).
MODEL_SUFFIXES: dict[str, str] = {"onnx": ".onnx", "tflite": ".tflite", "openvino-ir": ".xml"}


@dataclass(frozen=True)
class RuntimeOption:
    """One key a runtime entry's ``options:`` accepts, with what it does."""

    name: str
    doc: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TuneKnob:
    """A setting ``rigbench tune`` varies for this runtime, and the values it tries by default.

    ``name`` is a runtime entry field of the plan (``graph_optimization``) or, for anything
    else, a key of the entry's ``options:``. The values are those worth racing on a device
    that has the runtime; the user narrows them with ``--set NAME=V1,V2``.
    """

    name: str
    values: tuple[str, ...]
    doc: str = ""
    choices: tuple[str, ...] = ()  # every value the runtime accepts (empty: any)


@dataclass(frozen=True)
class RuntimeDescriptor:
    """A runtime as the rest of rigbench sees it, without importing it."""

    name: str  # the plan's `runtime:` value and the adapter's registry key
    summary: str
    formats: tuple[str, ...]  # model formats it loads; the first is its own
    extra: str  # `pip install "rigbench[<extra>]"` brings the runtime package
    adapter: str  # class name of the adapter in the same module
    providers: tuple[str, ...]  # short names `providers:` accepts (ORT providers, delegates...)
    provider_word: str  # what a provider is called for this runtime: provider | delegate | device
    default_provider: str
    canary_variant: str  # the variant of the built-in CNN the nightly canary runs on it
    options: tuple[RuntimeOption, ...] = ()
    # True: keys beyond ``options`` pass through to the runtime (ORT provider options).
    open_options: bool = False
    # `rigbench agent install` tries this extra on every board (False: only when asked for).
    install_by_default: bool = True
    # How per-operator profiles name the unit an operator ran on, for docs and help texts.
    profile_units: str = "not available"
    # What `rigbench tune` varies besides variants, providers and threads (docs/tune.md).
    tune: tuple[TuneKnob, ...] = ()
    # The runtime honours a job's intra-op thread count (tune tries several).
    takes_threads: bool = True
    # (short name, the name Describe reports) where they differ, e.g. ORT's
    # ("cuda", "CUDAExecutionProvider"); others are reported as ``providers`` spells them.
    provider_aliases: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> RuntimeOption | None:
        return next((o for o in self.options if o.name == name), None)

    def available_providers(self, described: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The short names of ``providers`` a device's Describe reports, in declared order."""
        have = {d.upper() for d in described}
        aliases = dict(self.provider_aliases)
        return tuple(p for p in self.providers if aliases.get(p, p).upper() in have)

    def tune_knob(self, name: str) -> TuneKnob | None:
        return next((k for k in self.tune if k.name == name), None)

    def check_options(self, given: dict[str, str]) -> list[str]:
        """Problems with a runtime entry's ``options:``, one line each (empty when fine)."""
        problems = []
        for key, value in given.items():
            opt = self.option(key)
            if opt is None:
                if not self.open_options:
                    known = ", ".join(o.name for o in self.options) or "none"
                    problems.append(
                        f"runtime {self.name} has no option {key!r}; its options: {known}"
                    )
            elif opt.choices and str(value).upper() not in {c.upper() for c in opt.choices}:
                problems.append(
                    f"runtime {self.name} option {key}: {value!r} is not one of "
                    f"{', '.join(opt.choices)}"
                )
        return problems
