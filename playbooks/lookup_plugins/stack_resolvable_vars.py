"""Lookup: the values of the named variables that resolve, and why the
others do not, as one dict: {"values": {name: value}, "errors": {name: why}}.

preflight.yml checks every role's variables before any role runs. A value
that refers to a variable this inventory does not define (a partial test
inventory without backups has no backup password, say) cannot be checked
and is left out: the role that uses it fails on it when it starts, with
Ansible's own message. Names that are not defined at all are left out too.
Any other failure to work a value out (a string where the expression adds
a list, say) is an error of the inventory: it goes to "errors", which
preflight reports with the variable's name before any change.
"""

from collections.abc import Mapping

from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.plugins.lookup import LookupBase
from jinja2 import Undefined
from jinja2.exceptions import UndefinedError

DOCUMENTATION = """
name: stack_resolvable_vars
short_description: values of the named variables that resolve, as one dict
description:
  - Returns one dict, C(values) (name to value, for the names given that are defined and
    whose value templates without error) and C(errors) (name to message, for the names
    whose value fails for another reason than an undefined variable).
options:
  _terms:
    description: Variable names.
    required: true
"""

RETURN = """
_raw:
  description: One dict with the keys values and errors.
  type: dict
"""


def _plain(value):
    """Plain data: every nested value is templated now (lazy containers would
    template them later, outside the try)."""
    if isinstance(value, Undefined):  # what a reference to an undefined variable gives
        raise UndefinedError("refers to an undefined variable")
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        found, errors = {}, {}
        for name in terms:
            if name not in variables:
                continue
            try:
                found[name] = _plain(self._templar.template(variables[name]))
            except (AnsibleUndefinedVariable, UndefinedError):
                continue
            except AnsibleError as error:
                errors[name] = " ".join(str(error.message if hasattr(error, "message") else error).split())
        return [{"values": found, "errors": errors}]
