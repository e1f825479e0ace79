"""A moto server (Firehose into S3) for the end-to-end tests, driven over standard input.

Run with the harness venv's Python (scripts/setup makes it):

    tests/harness/venv/bin/python tests/harness/firehose.py

It serves moto on 127.0.0.1 (a free port, printed as the first line of standard output) in this
process, and exits when its standard input closes, so a test that dies leaves no server behind.
Commands, one per line, each answered by one JSON line:

    create <stream>         an S3 bucket (once) and a DirectPut delivery stream into it
    read <stream> <file>    writes the bytes stored for <stream> to <file>, in the order the
                            PutRecordBatch calls arrived, and answers {"calls": [[size, ...], ...]}:
                            the sizes of the records of each call, so the test can cut them apart

moto writes one S3 object per PutRecordBatch call, the call's records concatenated; its object
names carry only a second and a random id, so the order of the calls is taken from moto's own
bucket (insertion order), and the record sizes from a wrapper around its PutRecordBatch.
"""

import json
import logging
import sys
import threading

import boto3
from moto.firehose.models import FirehoseBackend
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
BUCKET = "kinetail-e2e"
CREDENTIALS = dict(
    region_name="us-east-1",
    aws_access_key_id="AKIDLOCALTEST",
    aws_secret_access_key="localtestsecret",
)

# One lock orders each call's S3 write with its entry in `calls`, so a read never sees one
# without the other.
lock = threading.Lock()
calls = {}  # stream -> [[record size, ...] per PutRecordBatch call, in arrival order]
original_put_record_batch = FirehoseBackend.put_record_batch


def put_record_batch(self, delivery_stream_name, records):
    with lock:
        reply = original_put_record_batch(self, delivery_stream_name, records)
        calls.setdefault(delivery_stream_name, []).append([len(r["Data"]) for r in records])
        return reply


FirehoseBackend.put_record_batch = put_record_batch


def create(endpoint, stream):
    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    firehose = boto3.client("firehose", endpoint_url=endpoint, **CREDENTIALS)
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": f"{stream}/",
            # Without it the Rust SDK cannot read DescribeDeliveryStream back from moto.
            "CompressionFormat": "UNCOMPRESSED",
        },
    )
    return {"created": stream}


def read(endpoint, stream, out_path):
    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
    with lock:
        bucket = s3_backends[ACCOUNT]["aws"].buckets[BUCKET]
        names = [n for n in list(bucket.keys.keys()) if n.startswith(f"{stream}/")]
        sizes = [list(c) for c in calls.get(stream, [])]
    with open(out_path, "wb") as out:
        for name in names:
            out.write(s3.get_object(Bucket=BUCKET, Key=name)["Body"].read())
    return {"calls": sizes, "objects": len(names)}


def main():
    # One access-log line per request would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    endpoint = f"http://127.0.0.1:{port}"
    print(port, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "create":
                answer = create(endpoint, words[1])
            elif words[0] == "read":
                answer = read(endpoint, words[1], words[2])
            else:
                answer = {"error": f"unknown command {words[0]!r}"}
        except Exception as e:  # the test prints it
            answer = {"error": repr(e)}
        print(json.dumps(answer), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
