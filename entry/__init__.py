"""The entry daemon: find work, decide, submit, advertise, write stats."""
