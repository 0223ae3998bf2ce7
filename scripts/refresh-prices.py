#!/usr/bin/env python3
"""Refresh data/prices.json from AWS's Price List API (boto3's `pricing` client), for every
region the table has. Needs credentials of a real account allowed `pricing:GetProducts`;
never run in CI (the tests check the table's shape and arithmetic, not AWS's prices).

    python3 -m venv /tmp/p && /tmp/p/bin/pip install boto3
    AWS_PROFILE=... /tmp/p/bin/python scripts/refresh-prices.py [--dry-run]

Each price is looked up with the filters below; one that AWS does not answer is kept as
it was and named at the end, so a refresh never silently drops a price.
"""

import datetime
import json
import os
import sys

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "data/prices.json")
pricing = boto3.client("pricing", region_name="us-east-1")


def on_demand(service, filters):
    """The first on-demand USD price of the products matching `filters` (field, value)."""
    f = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]
    for page in pricing.get_paginator("get_products").paginate(ServiceCode=service, Filters=f):
        for raw in page["PriceList"]:
            product = json.loads(raw)
            for term in product.get("terms", {}).get("OnDemand", {}).values():
                for dim in term["priceDimensions"].values():
                    usd = float(dim["pricePerUnit"].get("USD", "0"))
                    # Tiered prices: the first tier (begin 0) is what a small stack pays.
                    if usd > 0 and dim.get("beginRange", "0") == "0":
                        return usd
    return None


def refresh(region, prices, missing):
    def put(path, value):
        if value is None:
            missing.append(f"{region}: {'.'.join(path)}")
            return
        target = prices
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = round(value, 6)

    for itype in list(prices["ec2_hour"]):
        put(["ec2_hour", itype], on_demand("AmazonEC2", {
            "regionCode": region, "instanceType": itype, "operatingSystem": "Linux",
            "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}))
    for cls in list(prices["rds_hour"]):
        put(["rds_hour", cls], on_demand("AmazonRDS", {
            "regionCode": region, "instanceType": cls, "databaseEngine": "PostgreSQL",
            "deploymentOption": "Single-AZ"}))
    for vol, api in [("gp2", "General Purpose"), ("gp3", "General Purpose-GP3"),
                     ("io1", "Provisioned IOPS"), ("io2", "Provisioned IOPS-IO2"), ("standard", "Magnetic")]:
        put(["rds_storage_gb_month", vol], on_demand("AmazonRDS", {
            "regionCode": region, "volumeType": api, "databaseEngine": "PostgreSQL",
            "deploymentOption": "Single-AZ", "productFamily": "Database Storage"}))
    put(["eks_cluster_hour"], on_demand("AmazonEKS", {"regionCode": region, "usagetype": f"{usage_prefix(region)}AmazonEKS-Hours:perCluster"}))
    put(["eks_extended_cluster_hour"], on_demand("AmazonEKS", {"regionCode": region, "usagetype": f"{usage_prefix(region)}AmazonEKS-Hours:extendedSupport"}))
    put(["fargate_vcpu_hour"], on_demand("AmazonECS", {"regionCode": region, "usagetype": f"{usage_prefix(region)}Fargate-vCPU-Hours:perCPU"}))
    put(["fargate_gb_hour"], on_demand("AmazonECS", {"regionCode": region, "usagetype": f"{usage_prefix(region)}Fargate-GB-Hours"}))
    put(["alb_hour"], on_demand("AWSELB", {"regionCode": region, "usagetype": f"{usage_prefix(region)}LoadBalancerUsage", "productFamily": "Load Balancer-Application"}))
    put(["alb_lcu_hour"], on_demand("AWSELB", {"regionCode": region, "usagetype": f"{usage_prefix(region)}LCUUsage", "productFamily": "Load Balancer-Application"}))
    put(["nat_hour"], on_demand("AmazonEC2", {"regionCode": region, "usagetype": f"{usage_prefix(region)}NatGateway-Hours"}))
    put(["nat_gb"], on_demand("AmazonEC2", {"regionCode": region, "usagetype": f"{usage_prefix(region)}NatGateway-Bytes"}))
    put(["public_ipv4_hour"], on_demand("AmazonVPC", {"regionCode": region, "usagetype": f"{usage_prefix(region)}PublicIPv4:InUseAddress"}))
    put(["ebs_gp3_gb_month"], on_demand("AmazonEC2", {"regionCode": region, "volumeApiName": "gp3", "productFamily": "Storage"}))
    put(["s3_gb_month"], on_demand("AmazonS3", {"regionCode": region, "storageClass": "General Purpose", "volumeType": "Standard"}))
    put(["logs_ingest_gb"], on_demand("AmazonCloudWatch", {"regionCode": region, "usagetype": f"{usage_prefix(region)}DataProcessing-Bytes"}))
    put(["logs_storage_gb_month"], on_demand("AmazonCloudWatch", {"regionCode": region, "usagetype": f"{usage_prefix(region)}TimedStorage-ByteHrs"}))
    put(["ecr_gb_month"], on_demand("AmazonECR", {"regionCode": region, "usagetype": f"{usage_prefix(region)}TimedStorage-ByteHrs"}))


def usage_prefix(region):
    """The usage-type prefix AWS gives a region's prices (`EUW3-`); none for us-east-1."""
    prefixes = {"us-east-1": "", "eu-west-1": "EU-", "eu-west-3": "EUW3-"}
    return prefixes.get(region, "")


def main():
    table = json.load(open(TABLE))
    missing = []
    for region, prices in table["regions"].items():
        refresh(region, prices, missing)
    table["source"] = "AWS Price List API (on-demand), via scripts/refresh-prices.py"
    table["read"] = datetime.date.today().isoformat()
    if missing:
        print("kept as they were (no answer from the Price List API):\n  " + "\n  ".join(missing), file=sys.stderr)
    if "--dry-run" in sys.argv:
        print(json.dumps(table, indent=2))
        return
    with open(TABLE, "w") as f:
        json.dump(table, f, indent=2)
        f.write("\n")
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
