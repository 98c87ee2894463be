// moto's RunTask crashes (AttributeError private_dns_name) for a subnet whose VPC lacks DNS
// hostnames; AWS has no such dependency. Every VPC created through the gateway gets them on.
import type { CloudContext, MotoReply } from "./context.ts";
import { forwardToMoto } from "./forward.ts";
import { fakeAuthorization } from "./moto.ts";

export async function afterQuery(ctx: CloudContext, service: string, operation: string, region: string, reply: MotoReply): Promise<void> {
  if (service !== "ec2" || operation !== "CreateVpc" || reply.status !== 200) return;
  const vpcId = /<vpcId>(vpc-[0-9a-f]+)<\/vpcId>/.exec(reply.body.toString())?.[1];
  if (!vpcId) return;
  const form = new URLSearchParams({ Action: "ModifyVpcAttribute", Version: "2016-11-15", VpcId: vpcId, "EnableDnsHostnames.Value": "true" });
  await forwardToMoto(
    ctx.moto.url,
    "POST",
    "/",
    {
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      authorization: fakeAuthorization("ec2", region),
    },
    Buffer.from(form.toString()),
  );
}
