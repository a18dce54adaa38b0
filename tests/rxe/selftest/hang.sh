#!/bin/sh
echo "hanging"
sleep 3600
