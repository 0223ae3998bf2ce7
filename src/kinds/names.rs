//! Kind names, the one vocabulary kinds share: a kind names another (a subnet's `vpc`
//! field refers to a `vpc`) through these, never by importing it.

pub const VPC: &str = "vpc";
pub const SUBNET: &str = "subnet";
pub const INTERNET_GATEWAY: &str = "internet_gateway";
pub const ELASTIC_IP: &str = "elastic_ip";
pub const NAT_GATEWAY: &str = "nat_gateway";
pub const ROUTE_TABLE: &str = "route_table";
pub const SECURITY_GROUP: &str = "security_group";
pub const SECURITY_GROUP_RULES: &str = "security_group_rules";
pub const LOAD_BALANCER: &str = "load_balancer";
pub const TARGET_GROUP: &str = "target_group";
pub const LISTENER: &str = "listener";
pub const ECS_CLUSTER: &str = "ecs_cluster";
pub const TASK_DEFINITION: &str = "task_definition";
pub const ECS_SERVICE: &str = "ecs_service";
pub const EKS_CLUSTER: &str = "eks_cluster";
pub const EKS_ACCESS: &str = "eks_access";
pub const NODE_GROUP: &str = "node_group";
pub const DB_SUBNET_GROUP: &str = "db_subnet_group";
pub const DATABASE: &str = "database";
pub const BUCKET: &str = "bucket";
pub const BUCKET_POLICY: &str = "bucket_policy";
pub const DISTRIBUTION: &str = "distribution";
pub const ORIGIN_ACCESS_CONTROL: &str = "origin_access_control";
pub const IAM_ROLE: &str = "iam_role";
pub const OIDC_PROVIDER: &str = "oidc_provider";
pub const LOG_GROUP: &str = "log_group";
pub const SNS_TOPIC: &str = "sns_topic";
pub const ALARM: &str = "alarm";
pub const BUDGET: &str = "budget";
pub const ECR_REPOSITORY: &str = "ecr_repository";
pub const KUBERNETES_OBJECT: &str = "kubernetes_object";
