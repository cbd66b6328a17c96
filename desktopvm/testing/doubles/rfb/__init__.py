"""A scripted RFB (VNC) server and an independent naive encoder, for console tests."""
