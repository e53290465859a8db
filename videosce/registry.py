"""A small name -> factory registry, shared by backbones, decoders and methods (timm style)."""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Dict, List


class Registry:
    """Maps names to factories; `create` reports the valid names when a name is unknown."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: Dict[str, Callable[..., Any]] = {}
        self._info: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator; `info` is the entry's default config (clip length, crop size, ...)."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = factory
            self._info[name] = dict(info)
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def info(self, name: str) -> Dict[str, Any]:
        self.get(name)
        return dict(self._info[name])

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def list(self, pattern: str = "*") -> List[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries
