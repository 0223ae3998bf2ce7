//! How many resources of each kind a stack has, counted through the tests' own SDK clients
//! and never through the tool's discovery: one row per registered kind (a test checks that
//! every kind of the registry has its row).

use futures::future::BoxFuture;
use provision::kinds::names;

use super::{s3, sdk_config, stack_filter};

/// The tests' own clients.
pub struct Clients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    ecs: aws_sdk_ecs::Client,
    eks: aws_sdk_eks::Client,
    iam: aws_sdk_iam::Client,
    rds: aws_sdk_rds::Client,
    s3: aws_sdk_s3::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    sns: aws_sdk_sns::Client,
    cw: aws_sdk_cloudwatch::Client,
    cf: aws_sdk_cloudfront::Client,
    budgets: aws_sdk_budgets::Client,
    ecr: aws_sdk_ecr::Client,
}

impl Clients {
    pub async fn new() -> Clients {
        let conf = sdk_config().await;
        Clients {
            ec2: aws_sdk_ec2::Client::new(&conf),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&conf),
            ecs: aws_sdk_ecs::Client::new(&conf),
            eks: aws_sdk_eks::Client::new(&conf),
            iam: aws_sdk_iam::Client::new(&conf),
            rds: aws_sdk_rds::Client::new(&conf),
            s3: s3().await,
            logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
            sns: aws_sdk_sns::Client::new(&conf),
            cw: aws_sdk_cloudwatch::Client::new(&conf),
            cf: aws_sdk_cloudfront::Client::new(&conf),
            budgets: aws_sdk_budgets::Client::new(&conf),
            ecr: aws_sdk_ecr::Client::new(&conf),
        }
    }
}

type Count = for<'a> fn(&'a Clients, &'a str) -> BoxFuture<'a, usize>;

fn ours(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("provision:stack") && t.value() == Some(stack))
}

/// One counting function per kind.
pub static ROWS: &[(&str, Count)] = &[
    (names::VPC, |c, s| Box::pin(vpcs(c, s))),
    (names::SUBNET, |c, s| Box::pin(subnets(c, s))),
    (names::INTERNET_GATEWAY, |c, s| {
        Box::pin(internet_gateways(c, s))
    }),
    (names::ELASTIC_IP, |c, s| Box::pin(elastic_ips(c, s))),
    (names::NAT_GATEWAY, |c, s| Box::pin(nat_gateways(c, s))),
    (names::ROUTE_TABLE, |c, s| Box::pin(route_tables(c, s))),
    (names::SECURITY_GROUP, |c, s| {
        Box::pin(security_groups(c, s, false))
    }),
    (names::SECURITY_GROUP_RULES, |c, s| {
        Box::pin(security_groups(c, s, true))
    }),
    (names::LOAD_BALANCER, |c, s| Box::pin(load_balancers(c, s))),
    (names::TARGET_GROUP, |c, s| Box::pin(target_groups(c, s))),
    (names::LISTENER, |c, s| Box::pin(listeners(c, s))),
    (names::ECS_CLUSTER, |c, s| Box::pin(ecs_clusters(c, s))),
    (names::TASK_DEFINITION, |c, s| {
        Box::pin(task_definition_families(c, s))
    }),
    (names::ECS_SERVICE, |c, s| Box::pin(ecs_services(c, s))),
    (names::EKS_CLUSTER, |c, s| Box::pin(eks_clusters(c, s))),
    (names::NODE_GROUP, |c, s| Box::pin(node_groups(c, s))),
    (names::EKS_ACCESS, |c, s| Box::pin(eks_access(c, s))),
    (names::DB_SUBNET_GROUP, |c, s| {
        Box::pin(db_subnet_groups(c, s))
    }),
    (names::DATABASE, |c, s| Box::pin(databases(c, s))),
    (names::BUCKET, |c, s| Box::pin(buckets(c, s, false))),
    (names::BUCKET_POLICY, |c, s| Box::pin(buckets(c, s, true))),
    (names::DISTRIBUTION, |c, s| Box::pin(distributions(c, s))),
    (names::ORIGIN_ACCESS_CONTROL, |c, s| {
        Box::pin(origin_access_controls(c, s))
    }),
    (names::IAM_ROLE, |c, s| Box::pin(iam_roles(c, s))),
    (names::OIDC_PROVIDER, |c, s| Box::pin(oidc_providers(c, s))),
    (names::KUBERNETES_OBJECT, |_, s| {
        Box::pin(kubernetes_objects(s))
    }),
    (names::LOG_GROUP, |c, s| Box::pin(log_groups(c, s))),
    (names::SNS_TOPIC, |c, s| Box::pin(sns_topics(c, s))),
    (names::ALARM, |c, s| Box::pin(alarms(c, s))),
    (names::BUDGET, |c, s| Box::pin(budgets(c, s))),
    (names::ECR_REPOSITORY, |c, s| {
        Box::pin(ecr_repositories(c, s))
    }),
];

/// What the example stack has of each kind.
pub const FULL: &[(&str, usize)] = &[
    (names::VPC, 1),
    (names::SUBNET, 4),
    (names::INTERNET_GATEWAY, 1),
    (names::ELASTIC_IP, 1),
    (names::NAT_GATEWAY, 1),
    (names::ROUTE_TABLE, 2),
    (names::SECURITY_GROUP, 4),
    (names::SECURITY_GROUP_RULES, 4),
    (names::LOAD_BALANCER, 1),
    (names::TARGET_GROUP, 1),
    (names::LISTENER, 1),
    (names::ECS_CLUSTER, 1),
    (names::TASK_DEFINITION, 1),
    (names::ECS_SERVICE, 1),
    (names::EKS_CLUSTER, 1),
    (names::NODE_GROUP, 1),
    (names::EKS_ACCESS, 0),
    (names::DB_SUBNET_GROUP, 1),
    (names::DATABASE, 1),
    (names::BUCKET, 1),
    (names::BUCKET_POLICY, 1),
    (names::DISTRIBUTION, 1),
    (names::ORIGIN_ACCESS_CONTROL, 1),
    (names::IAM_ROLE, 4),
    (names::OIDC_PROVIDER, 0),
    (names::KUBERNETES_OBJECT, 2),
    (names::LOG_GROUP, 2),
    (names::SNS_TOPIC, 1),
    (names::ALARM, 4),
    (names::BUDGET, 1),
    (names::ECR_REPOSITORY, 1),
];

/// How many of each kind of the stack exist, through our own clients.
pub async fn census(stack: &str) -> Vec<(&'static str, usize)> {
    let c = Clients::new().await;
    let mut out = Vec::new();
    for (kind, count) in ROWS {
        out.push((*kind, count(&c, stack).await));
    }
    out
}

async fn vpcs(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_vpcs()
        .filters(stack_filter(stack))
        .send()
        .await;
    out.expect("vpcs").vpcs().len()
}

async fn subnets(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_subnets()
        .filters(stack_filter(stack))
        .send()
        .await;
    out.expect("subnets").subnets().len()
}

async fn internet_gateways(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_internet_gateways()
        .filters(stack_filter(stack))
        .send()
        .await;
    out.expect("igw").internet_gateways().len()
}

async fn elastic_ips(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_addresses()
        .filters(stack_filter(stack))
        .send()
        .await;
    out.expect("eip").addresses().len()
}

async fn nat_gateways(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_nat_gateways()
        .filter(stack_filter(stack))
        .send()
        .await
        .expect("nat");
    // Checked here too: the emulator ignores the tag filter of this listing.
    out.nat_gateways()
        .iter()
        .filter(|n| ours(n.tags(), stack) && n.state().map(|s| s.as_str()) != Some("deleted"))
        .count()
}

async fn route_tables(c: &Clients, stack: &str) -> usize {
    let out = c
        .ec2
        .describe_route_tables()
        .filters(stack_filter(stack))
        .send()
        .await;
    out.expect("rtb").route_tables().len()
}

/// Groups, or (`with_rules`) groups with at least one rule.
async fn security_groups(c: &Clients, stack: &str, with_rules: bool) -> usize {
    let out = c
        .ec2
        .describe_security_groups()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("sg");
    out.security_groups()
        .iter()
        .filter(|g| {
            !with_rules || !g.ip_permissions().is_empty() || !g.ip_permissions_egress().is_empty()
        })
        .count()
}

async fn load_balancers(c: &Clients, stack: &str) -> usize {
    let out = c.elb.describe_load_balancers().send().await.expect("lbs");
    out.load_balancers()
        .iter()
        .filter(|l| {
            l.load_balancer_name()
                .is_some_and(|n| n.starts_with(&format!("{stack}-")))
        })
        .count()
}

async fn target_groups(c: &Clients, stack: &str) -> usize {
    let out = c.elb.describe_target_groups().send().await.expect("tgs");
    out.target_groups()
        .iter()
        .filter(|t| {
            t.target_group_name()
                .is_some_and(|n| n.starts_with(&format!("{stack}-")))
        })
        .count()
}

async fn listeners(c: &Clients, stack: &str) -> usize {
    let lbs = c.elb.describe_load_balancers().send().await.expect("lbs");
    let mut n = 0;
    for lb in lbs.load_balancers().iter().filter(|l| {
        l.load_balancer_name()
            .is_some_and(|n| n.starts_with(&format!("{stack}-")))
    }) {
        let out = c
            .elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .send()
            .await
            .expect("listeners");
        n += out.listeners().len();
    }
    n
}

async fn stack_cluster_arns(c: &Clients, stack: &str) -> Vec<String> {
    let out = c.ecs.list_clusters().send().await.expect("clusters");
    out.cluster_arns()
        .iter()
        .filter(|a| a.contains(&format!("/{stack}-")))
        .cloned()
        .collect()
}

async fn ecs_clusters(c: &Clients, stack: &str) -> usize {
    let arns = stack_cluster_arns(c, stack).await;
    if arns.is_empty() {
        return 0;
    }
    // Deleted clusters stay listed for a while as INACTIVE.
    let out = c
        .ecs
        .describe_clusters()
        .set_clusters(Some(arns))
        .send()
        .await
        .expect("describe clusters");
    out.clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .count()
}

async fn task_definition_families(c: &Clients, stack: &str) -> usize {
    let out = c
        .ecs
        .list_task_definition_families()
        .family_prefix(format!("{stack}-"))
        .send()
        .await
        .expect("families");
    // Deregistered families stay listed for a while (INACTIVE).
    let mut n = 0;
    for f in out.families() {
        let d = c
            .ecs
            .describe_task_definition()
            .task_definition(f)
            .send()
            .await
            .expect("describe task definition");
        if d.task_definition().and_then(|t| t.status())
            == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        {
            n += 1;
        }
    }
    n
}

async fn ecs_services(c: &Clients, stack: &str) -> usize {
    let mut n = 0;
    for cluster in stack_cluster_arns(c, stack).await {
        let arns = c
            .ecs
            .list_services()
            .cluster(&cluster)
            .send()
            .await
            .expect("services")
            .service_arns()
            .to_vec();
        if arns.is_empty() {
            continue;
        }
        let out = c
            .ecs
            .describe_services()
            .cluster(&cluster)
            .set_services(Some(arns))
            .send()
            .await
            .expect("describe services");
        n += out
            .services()
            .iter()
            .filter(|s| s.status() != Some("INACTIVE"))
            .count();
    }
    n
}

async fn stack_eks_clusters(c: &Clients, stack: &str) -> Vec<String> {
    let out = c.eks.list_clusters().send().await.expect("eks");
    out.clusters()
        .iter()
        .filter(|n| n.starts_with(&format!("{stack}-")))
        .cloned()
        .collect()
}

async fn eks_clusters(c: &Clients, stack: &str) -> usize {
    stack_eks_clusters(c, stack).await.len()
}

async fn node_groups(c: &Clients, stack: &str) -> usize {
    let mut n = 0;
    for cluster in stack_eks_clusters(c, stack).await {
        let out = c
            .eks
            .list_nodegroups()
            .cluster_name(cluster)
            .send()
            .await
            .expect("node groups");
        n += out.nodegroups().len();
    }
    n
}

/// Clusters with access entries carrying the stack's tags (one `eks_access` each).
async fn eks_access(c: &Clients, stack: &str) -> usize {
    let mut n = 0;
    for cluster in stack_eks_clusters(c, stack).await {
        let Ok(out) = c
            .eks
            .list_access_entries()
            .cluster_name(&cluster)
            .send()
            .await
        else {
            continue; // the config-map mode has no entries
        };
        let mut ours = false;
        for principal in out.access_entries() {
            let entry = c
                .eks
                .describe_access_entry()
                .cluster_name(&cluster)
                .principal_arn(principal)
                .send()
                .await
                .expect("entry");
            ours |= entry
                .access_entry()
                .and_then(|e| e.tags())
                .and_then(|t| t.get("provision:stack"))
                .is_some_and(|s| s == stack);
        }
        n += usize::from(ours);
    }
    n
}

async fn db_subnet_groups(c: &Clients, stack: &str) -> usize {
    let out = c
        .rds
        .describe_db_subnet_groups()
        .send()
        .await
        .expect("groups");
    out.db_subnet_groups()
        .iter()
        .filter(|g| {
            g.db_subnet_group_name()
                .is_some_and(|n| n.starts_with(&format!("{stack}-")))
        })
        .count()
}

async fn databases(c: &Clients, stack: &str) -> usize {
    let out = c.rds.describe_db_instances().send().await.expect("dbs");
    out.db_instances()
        .iter()
        .filter(|d| {
            d.db_instance_identifier()
                .is_some_and(|i| i.starts_with(&format!("{stack}-")))
        })
        .count()
}

/// Buckets, or (`with_policy`) buckets that have a policy.
async fn buckets(c: &Clients, stack: &str, with_policy: bool) -> usize {
    let out = c.s3.list_buckets().send().await.expect("buckets");
    let mut n = 0;
    for b in out.buckets().iter().filter_map(|b| b.name()) {
        if !b.starts_with(&format!("{stack}-")) {
            continue;
        }
        if with_policy && c.s3.get_bucket_policy().bucket(b).send().await.is_err() {
            continue;
        }
        n += 1;
    }
    n
}

async fn distributions(c: &Clients, stack: &str) -> usize {
    let out =
        c.cf.list_distributions()
            .send()
            .await
            .expect("distributions");
    out.distribution_list()
        .map(|l| {
            l.items()
                .iter()
                .filter(|d| d.comment().starts_with(&format!("{stack}-")))
                .count()
        })
        .unwrap_or(0)
}

async fn origin_access_controls(c: &Clients, stack: &str) -> usize {
    let out =
        c.cf.list_origin_access_controls()
            .send()
            .await
            .expect("origin access controls");
    let mark = format!("provision:stack={stack} ");
    out.origin_access_control_list()
        .map(|l| {
            l.items()
                .iter()
                .filter(|o| o.description().starts_with(&mark))
                .count()
        })
        .unwrap_or(0)
}

async fn iam_roles(c: &Clients, stack: &str) -> usize {
    let out = c
        .iam
        .list_roles()
        .path_prefix(format!("/provision/{stack}/"))
        .send()
        .await
        .expect("roles");
    out.roles().len()
}

async fn oidc_providers(c: &Clients, stack: &str) -> usize {
    let out = c
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("providers");
    let mut n = 0;
    for p in out.open_id_connect_provider_list() {
        let got = c
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(p.arn().unwrap_or_default())
            .send()
            .await
            .expect("provider");
        if got
            .tags()
            .iter()
            .any(|t| t.key() == "provision:stack" && t.value() == stack)
        {
            n += 1;
        }
    }
    n
}

/// The stack's objects in the Kubernetes API double, on every cluster named after the
/// stack, asked as a client would (an EKS token, a list by the stack's label for each
/// type provision manages).
pub async fn kubernetes_objects(stack: &str) -> usize {
    let Some(kube) = super::emulator().kube.as_ref() else {
        return 0;
    };
    let identity =
        aws_credential_types::Credentials::new("testing", "testing", None, None, "tests").into();
    let token = provision::kinds::kubernetes::token::token(
        &identity,
        super::REGION,
        "census",
        std::time::SystemTime::now(),
    )
    .expect("token");
    let http = reqwest::Client::new();
    let clusters: Vec<String> = http
        .get(format!("{}/_clusters", kube.endpoint))
        .send()
        .await
        .expect("clusters")
        .json()
        .await
        .expect("json");
    let mut n = 0;
    let mut asks: Vec<(String, &'static provision::kinds::kubernetes::Type)> = Vec::new();
    for c in clusters
        .iter()
        .filter(|c| c.starts_with(&format!("{stack}-")))
    {
        for t in provision::kinds::kubernetes::TYPES {
            asks.push((c.clone(), t));
        }
    }
    for (cluster, t) in asks {
        let base = if t.api_version.contains('/') {
            "apis"
        } else {
            "api"
        };
        let url = format!(
            "{}/clusters/{cluster}/{base}/{}/{}?labelSelector=provision/stack%3D{stack}",
            kube.endpoint, t.api_version, t.plural
        );
        let list: serde_json::Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        n += list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|o| o["metadata"]["deletionTimestamp"].is_null())
                    .count()
            })
            .unwrap_or(0);
    }
    n
}

async fn log_groups(c: &Clients, stack: &str) -> usize {
    let mut n = 0;
    for prefix in [format!("/{stack}/"), format!("/aws/eks/{stack}-")] {
        let out = c
            .logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .send()
            .await
            .expect("log groups");
        n += out.log_groups().len();
    }
    n
}

async fn sns_topics(c: &Clients, stack: &str) -> usize {
    let out = c.sns.list_topics().send().await.expect("topics");
    out.topics()
        .iter()
        .filter(|t| {
            t.topic_arn()
                .is_some_and(|a| a.contains(&format!(":{stack}-")))
        })
        .count()
}

async fn alarms(c: &Clients, stack: &str) -> usize {
    let out =
        c.cw.describe_alarms()
            .alarm_name_prefix(format!("{stack}-"))
            .send()
            .await
            .expect("alarms");
    out.metric_alarms().len()
}

async fn budgets(c: &Clients, stack: &str) -> usize {
    let out = c
        .budgets
        .describe_budgets()
        .account_id(super::ACCOUNT)
        .send()
        .await
        .expect("budgets");
    out.budgets()
        .iter()
        .filter(|b| b.budget_name().starts_with(&format!("{stack}-")))
        .count()
}

async fn ecr_repositories(c: &Clients, stack: &str) -> usize {
    let out = c
        .ecr
        .describe_repositories()
        .send()
        .await
        .expect("repositories");
    out.repositories()
        .iter()
        .filter(|r| {
            r.repository_name()
                .is_some_and(|n| n.starts_with(&format!("{stack}/")))
        })
        .count()
}
