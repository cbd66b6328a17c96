"""A stand-in for VBoxManage (stdlib only): keeps state like VirtualBox, records argv, replays."""
