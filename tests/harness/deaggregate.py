"""Deaggregates Kinesis records with awslabs' own aws_kinesis_agg (PyPI), for the KPL tests.

stdin: a JSON list of the records read from the stream, each {"seq", "pk", "data" (base64)}.
stdout: a JSON list with, per input record, the list of user records it holds, each
{"pk", "ehk", "data" (base64), "aggregated"}. A record that is not a valid aggregate (wrong
magic, bad MD5, bad protobuf) comes back as one user record with "aggregated": false, as the
KCL passes it through.
"""
import base64
import json
import sys

from aws_kinesis_agg.deaggregator import deaggregate_records


def main():
    out = []
    for r in json.load(sys.stdin):
        event = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "sequenceNumber": r["seq"],
                "approximateArrivalTimestamp": 0,
                "partitionKey": r["pk"],
                "data": r["data"],
            }
        }
        users = []
        for u in deaggregate_records([event]):
            k = u["kinesis"]
            data = k["data"]
            if isinstance(data, bytes):
                data = data.decode("ascii")
            users.append(
                {
                    "pk": k["partitionKey"],
                    "ehk": k.get("explicitHashKey"),
                    "data": data,
                    "aggregated": bool(k.get("aggregated", False)),
                }
            )
        out.append(users)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
