import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="module")
def cafile(host, tmp_path_factory):
    """The CA that signed the site's certificate, as a file on the controller."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(host.file("/etc/ssl/pyweb/site/chain.pem").content_string)
    return str(path)
