#!/bin/sh
# Writes the S3 identity from the environment (S3_ACCESS_KEY / S3_SECRET_KEY), then runs SeaweedFS.
set -eu
umask 077
cat > /tmp/identities.json <<JSON
{"identities":[{"name":"fraudops","credentials":[{"accessKey":"${S3_ACCESS_KEY}","secretKey":"${S3_SECRET_KEY}"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
exec weed mini -dir=/data -s3.config=/tmp/identities.json -bucket=fraudops -webdav=false
