#!/bin/sh
# A stand-in service: it says who it is and how much configuration it read, then waits.
echo "$(cat /srv/config/name) ready with $(wc -l < /srv/config/settings.txt) settings"
exec sleep 2147483647
