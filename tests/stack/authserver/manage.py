#!/usr/bin/env python3
"""Test-only authorization server (django-oauth-toolkit) for jira-auth-agent's real test stack."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
