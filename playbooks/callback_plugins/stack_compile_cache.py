"""Callback: keep the Jinja templates Ansible compiles, so that a template
is compiled once, not once per task, host and run.

ansible-core 2.19 compiles a template's text into Python code every time it
renders it, and every task on every host runs in a freshly forked worker
that compiles again what the one before it compiled. This plugin wraps the
compile step of Ansible's Jinja environment: the code of each template is
kept in the worker's memory and in a directory on the controller, and a
later compile of the same text with the same settings loads it instead.

What is kept is what Jinja's own bytecode cache keeps for file templates
(the code object, marshalled), keyed by everything that shapes it: the
template's text (or an expression's parsed tree), the compile settings of
the environment, Ansible's backslash escaping, and the versions of Python,
Jinja and ansible-core (the directory's name). Rendering is unchanged: the
code is bound to the environment and run as Jinja runs it.

- STACK_COMPILE_CACHE=off (environment) turns it off; STACK_COMPILE_CACHE_DIR
  moves the directory (default ~/.cache/pyweb/jinja-...).
- It stays off when Ansible's template debugging is on, and when the
  ansible-core in use is not the 2.19 series it was written for (the
  compile step it wraps is internal to ansible-core).
- The directory is emptied when it holds more than MAX_FILES entries.
"""

import hashlib
import marshal
import os
import sys
import tempfile

import jinja2
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_CORE_VERSION
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: stack_compile_cache
type: aggregate
short_description: compile each Jinja template once, not once per task and host
description:
  - Wraps the compile step of ansible-core's Jinja environment so that the code of a template
    is kept in memory and on disk, and reused by later tasks, hosts and runs.
  - Off with STACK_COMPILE_CACHE=off in the environment.
"""

MAX_FILES = 20000
# The environment's settings that change the code Jinja generates.
SETTINGS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
            "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
            "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async")


def cache_dir():
    base = os.environ.get("STACK_COMPILE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyweb")
    tag = "jinja-py{0}{1}-jinja{2}-core{3}".format(sys.version_info[0], sys.version_info[1], jinja2.__version__,
                                                  ANSIBLE_CORE_VERSION)
    return os.path.join(base, tag)


def install():
    """Wrap AnsibleEnvironment.compile; False when this ansible-core is not
    the one it was written for, or the cache is turned off."""
    if os.environ.get("STACK_COMPILE_CACHE", "on").lower() in ("off", "0", "false", "no"):
        return False
    if not ANSIBLE_CORE_VERSION.startswith("2.19."):
        return False
    try:
        from ansible._internal._templating import _jinja_bits
    except ImportError:
        return False
    env_class = getattr(_jinja_bits, "AnsibleEnvironment", None)
    context = getattr(_jinja_bits, "_TemplateCompileContext", None)
    if env_class is None or context is None or getattr(env_class.compile, "stack_compile_cache", False):
        return False

    directory = cache_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        if len(os.listdir(directory)) > MAX_FILES:
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
    except OSError:
        pass
    original = env_class.compile
    memory = {}

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or getattr(self, "_debuggable_template_source", False):
            return original(self, source, name, filename, raw, defer_init)
        escaping = context.current(optional=True)
        key = repr((source if isinstance(source, str) else repr(source), str(source.__class__.__name__), name,
                    filename, defer_init, bool(escaping and escaping.escape_backslashes),
                    tuple(getattr(self, s, None) for s in SETTINGS), type(self).__name__,
                    getattr(self.finalize, "__qualname__", None), self.autoescape is True))
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        code = memory.get(digest)
        if code is not None:
            return code
        path = os.path.join(directory, digest)
        try:
            with open(path, "rb") as kept:
                code = marshal.loads(kept.read())
        except (OSError, ValueError, EOFError, TypeError):
            code = original(self, source, name, filename, raw, defer_init)
            try:
                fd, tmp = tempfile.mkstemp(dir=directory)
                with os.fdopen(fd, "wb") as out:
                    out.write(marshal.dumps(code))
                os.replace(tmp, path)
            except OSError:
                pass
        memory[digest] = code
        return code

    compile.stack_compile_cache = True
    env_class.compile = compile
    return True


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stack_compile_cache"
    # Loaded from callback_plugins (ansible.cfg) without being listed in
    # callbacks_enabled.
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.installed = install()
