"""Access to the compiled core, surgvlp_fast._C, which may be absent or switched off.

`SURGVLP_FAST_DISABLE_NATIVE=1` hides the compiled core at run time (the pure-PyTorch mode);
`native_submodule("losses")` returns the submodule or None, never raising.
"""
import functools
import os


def native_disabled() -> bool:
    return os.environ.get("SURGVLP_FAST_DISABLE_NATIVE", "0") not in ("", "0")


@functools.lru_cache(maxsize=None)
def _load():
    try:
        import torch  # noqa: F401  (loads libtorch before the extension)
        from surgvlp_fast import _C
    except ImportError as err:
        return None, f"not built ({err})"
    return _C, None


def native_module():
    """The compiled core, or None when it is not built or switched off."""
    if native_disabled():
        return None
    return _load()[0]


def native_submodule(name: str):
    module = native_module()
    return getattr(module, name, None) if module is not None else None


def native_status() -> str:
    """One line saying whether the compiled core is usable, and why not."""
    if native_disabled():
        return "switched off (SURGVLP_FAST_DISABLE_NATIVE=1)"
    module, reason = _load()
    if module is None:
        return reason
    names = ", ".join(module.build_info["submodules"])
    return f"built ({names})" if names else "built (no kernels registered)"
