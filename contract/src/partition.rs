//! AWS partitions and the endpoints that follow from them (AWS.md).

/// Console services that are not regional: their pages take no region.
const GLOBAL_SERVICES: &[&str] = &[
    "iam",
    "organizations",
    "billing",
    "cloudfront",
    "route53",
    "support",
    "account",
    "globalaccelerator",
];

/// Which STS endpoint to use (`sts-endpoint-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsMode {
    Regional,
    Global,
    Fips,
}

impl StsMode {
    pub fn parse(text: &str) -> Result<StsMode, String> {
        match text {
            "regional" => Ok(StsMode::Regional),
            "global" => Ok(StsMode::Global),
            "fips" => Ok(StsMode::Fips),
            other => Err(format!(
                "sts-endpoint-mode must be regional, global or fips, not {other:?}"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            StsMode::Regional => "regional",
            StsMode::Global => "global",
            StsMode::Fips => "FIPS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    pub fn parse(name: &str) -> Result<Partition, String> {
        match name {
            "aws" => Ok(Partition::Aws),
            "aws-cn" => Ok(Partition::AwsCn),
            "aws-us-gov" => Ok(Partition::AwsUsGov),
            other => Err(format!(
                "partition {other:?} is not supported: it has no public console (supported: aws, aws-cn, aws-us-gov)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// Whether a region belongs to this partition (`cn-…`, `us-gov-…`, the rest).
    pub fn has_region(self, region: &str) -> bool {
        match self {
            Partition::AwsCn => region.starts_with("cn-"),
            Partition::AwsUsGov => region.starts_with("us-gov-"),
            Partition::Aws => !region.starts_with("cn-") && !region.starts_with("us-gov-"),
        }
    }

    /// The STS endpoint and the region that signs for it. Regional is what
    /// current SDKs use by default; only `aws` has the global endpoint, and
    /// `aws-cn` has no FIPS endpoints.
    pub fn sts_endpoint(self, region: &str, mode: StsMode) -> Result<(String, String), String> {
        match (self, mode) {
            (Partition::AwsCn, StsMode::Regional) => Ok((
                format!("https://sts.{region}.amazonaws.com.cn"),
                region.to_string(),
            )),
            (_, StsMode::Regional) => Ok((
                format!("https://sts.{region}.amazonaws.com"),
                region.to_string(),
            )),
            (Partition::Aws, StsMode::Global) => Ok((
                "https://sts.amazonaws.com".to_string(),
                "us-east-1".to_string(),
            )),
            (Partition::Aws | Partition::AwsUsGov, StsMode::Fips) => Ok((
                format!("https://sts-fips.{region}.amazonaws.com"),
                region.to_string(),
            )),
            (partition, mode) => Err(format!(
                "partition {} has no {} STS endpoint",
                partition.name(),
                mode.name()
            )),
        }
    }

    /// Where a region's partition is: `cn-…` and `us-gov-…`, else `aws`.
    pub fn of_region(region: &str) -> Partition {
        [Partition::AwsCn, Partition::AwsUsGov]
            .into_iter()
            .find(|p| p.has_region(region))
            .unwrap_or(Partition::Aws)
    }

    /// IAM is global per partition; it signs in the partition's home region.
    pub fn iam_endpoint(self) -> (&'static str, &'static str) {
        match self {
            Partition::Aws => ("https://iam.amazonaws.com", "us-east-1"),
            Partition::AwsCn => ("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"),
            Partition::AwsUsGov => ("https://iam.us-gov.amazonaws.com", "us-gov-west-1"),
        }
    }

    /// The hosts the component calls in this partition (STS for `mode`,
    /// sign-in, IAM): the host's default egress allow-list.
    pub fn hosts(self, region: &str, mode: StsMode) -> Result<Vec<String>, String> {
        let (sts, _) = self.sts_endpoint(region, mode)?;
        Ok([
            sts.as_str(),
            self.federation_endpoint(),
            self.iam_endpoint().0,
        ]
        .iter()
        .map(|url| host_of(url))
        .collect())
    }

    pub fn federation_endpoint(self) -> &'static str {
        match self {
            Partition::Aws => "https://signin.aws.amazon.com/federation",
            Partition::AwsCn => "https://signin.amazonaws.cn/federation",
            Partition::AwsUsGov => "https://signin.amazonaws-us-gov.com/federation",
        }
    }

    fn console_host(self) -> &'static str {
        match self {
            Partition::Aws => "console.aws.amazon.com",
            Partition::AwsCn => "console.amazonaws.cn",
            Partition::AwsUsGov => "console.amazonaws-us-gov.com",
        }
    }

    /// Where the console opens. `page` is a service (`s3`) or a console
    /// path (`/cloudwatch/home`); global services take no region.
    pub fn console_destination(self, region: Option<&str>, page: Option<&str>) -> String {
        let host = self.console_host();
        // The commercial console serves each region from its own host.
        let regional = |region: &str| match self {
            Partition::Aws => format!("{region}.{host}"),
            _ => host.to_string(),
        };
        match (page, region) {
            (None, None) => format!("https://{host}/"),
            (None, Some(region)) => {
                format!("https://{}/console/home?region={region}", regional(region))
            }
            (Some(path), Some(region)) if path.starts_with('/') => {
                format!("https://{}{path}", regional(region))
            }
            (Some(path), None) if path.starts_with('/') => format!("https://{host}{path}"),
            (Some(service), _) if GLOBAL_SERVICES.contains(&service) => {
                format!("https://{host}/{service}/home")
            }
            (Some(service), None) => format!("https://{host}/{service}/home"),
            (Some(service), Some(region)) => {
                format!(
                    "https://{}/{service}/home?region={region}",
                    regional(region)
                )
            }
        }
    }
}

/// `https://HOST/…` → `HOST` (every endpoint above has that form).
fn host_of(url: &str) -> String {
    let rest = url.trim_start_matches("https://");
    rest.split('/').next().unwrap_or(rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_partition() {
        let url = |p: Partition, region, mode| {
            p.sts_endpoint(region, mode)
                .map(|(url, signing)| format!("{url} {signing}"))
        };
        assert_eq!(
            url(Partition::Aws, "eu-west-1", StsMode::Regional).unwrap(),
            "https://sts.eu-west-1.amazonaws.com eu-west-1"
        );
        assert_eq!(
            url(Partition::AwsCn, "cn-north-1", StsMode::Regional).unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn cn-north-1"
        );
        assert_eq!(
            url(Partition::AwsUsGov, "us-gov-west-1", StsMode::Regional).unwrap(),
            "https://sts.us-gov-west-1.amazonaws.com us-gov-west-1"
        );
        assert_eq!(
            url(Partition::Aws, "eu-west-1", StsMode::Global).unwrap(),
            "https://sts.amazonaws.com us-east-1"
        );
        assert_eq!(
            url(Partition::Aws, "us-east-2", StsMode::Fips).unwrap(),
            "https://sts-fips.us-east-2.amazonaws.com us-east-2"
        );
        assert_eq!(
            url(Partition::AwsUsGov, "us-gov-east-1", StsMode::Fips).unwrap(),
            "https://sts-fips.us-gov-east-1.amazonaws.com us-gov-east-1"
        );
        assert!(
            url(Partition::AwsCn, "cn-north-1", StsMode::Global)
                .unwrap_err()
                .contains("no global")
        );
        assert!(
            url(Partition::AwsCn, "cn-north-1", StsMode::Fips)
                .unwrap_err()
                .contains("no FIPS")
        );
        assert!(url(Partition::AwsUsGov, "us-gov-west-1", StsMode::Global).is_err());
        assert!(StsMode::parse("dualstack").is_err());
        assert_eq!(
            Partition::AwsCn.federation_endpoint(),
            "https://signin.amazonaws.cn/federation"
        );
        assert_eq!(
            Partition::AwsUsGov.federation_endpoint(),
            "https://signin.amazonaws-us-gov.com/federation"
        );
    }

    #[test]
    fn console_destinations_by_service_and_path() {
        assert_eq!(
            Partition::Aws.console_destination(Some("eu-west-1"), Some("s3")),
            "https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1"
        );
        assert_eq!(
            Partition::Aws.console_destination(Some("eu-west-1"), Some("iam")),
            "https://console.aws.amazon.com/iam/home",
            "global services take no region"
        );
        assert_eq!(
            Partition::Aws.console_destination(None, Some("ec2")),
            "https://console.aws.amazon.com/ec2/home"
        );
        assert_eq!(
            Partition::AwsCn.console_destination(Some("cn-north-1"), Some("ec2")),
            "https://console.amazonaws.cn/ec2/home?region=cn-north-1"
        );
        assert_eq!(
            Partition::Aws.console_destination(Some("us-east-2"), Some("/cloudwatch/home#alarms")),
            "https://us-east-2.console.aws.amazon.com/cloudwatch/home#alarms"
        );
        assert_eq!(
            Partition::AwsUsGov.console_destination(None, Some("/billing/home")),
            "https://console.amazonaws-us-gov.com/billing/home"
        );
    }

    #[test]
    fn console_destinations() {
        assert_eq!(
            Partition::Aws.console_destination(None, None),
            "https://console.aws.amazon.com/"
        );
        assert_eq!(
            Partition::Aws.console_destination(Some("eu-west-1"), None),
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
        );
        assert_eq!(
            Partition::AwsCn.console_destination(Some("cn-north-1"), None),
            "https://console.amazonaws.cn/console/home?region=cn-north-1"
        );
        assert_eq!(
            Partition::AwsUsGov.console_destination(None, None),
            "https://console.amazonaws-us-gov.com/"
        );
    }

    #[test]
    fn the_hosts_a_partition_is_reached_at() {
        assert_eq!(
            Partition::of_region("cn-north-1")
                .hosts("cn-north-1", StsMode::Regional)
                .unwrap(),
            [
                "sts.cn-north-1.amazonaws.com.cn",
                "signin.amazonaws.cn",
                "iam.cn-north-1.amazonaws.com.cn"
            ]
        );
        assert_eq!(
            Partition::of_region("us-gov-west-1")
                .hosts("us-gov-west-1", StsMode::Fips)
                .unwrap(),
            [
                "sts-fips.us-gov-west-1.amazonaws.com",
                "signin.amazonaws-us-gov.com",
                "iam.us-gov.amazonaws.com"
            ]
        );
        assert_eq!(
            Partition::of_region("eu-west-1")
                .hosts("eu-west-1", StsMode::Global)
                .unwrap(),
            [
                "sts.amazonaws.com",
                "signin.aws.amazon.com",
                "iam.amazonaws.com"
            ]
        );
    }

    #[test]
    fn regions_belong_to_partitions() {
        assert!(Partition::Aws.has_region("us-east-1"));
        assert!(!Partition::Aws.has_region("cn-north-1"));
        assert!(Partition::AwsCn.has_region("cn-northwest-1"));
        assert!(Partition::AwsUsGov.has_region("us-gov-east-1"));
    }
}
