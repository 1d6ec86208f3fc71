"""The Bandmate ReaScripts (Lua), shipped as package data so `bandmate install reaper` finds them in an installed
Bandmate as well as in a source checkout."""
