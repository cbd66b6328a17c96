"""Tests against the real VBoxManage 7.2 (in the sid root that .ci/virtualbox-root builds)."""
