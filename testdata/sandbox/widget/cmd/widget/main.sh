#!/bin/sh
# The widget command: prints its version.
echo "widget ${WIDGET_VERSION:-dev}"
