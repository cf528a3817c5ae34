//! Parsing a `--dataset` argument into a URL.

use crate::StorageError;
use url::Url;

/// Turns a dataset argument into a URL: `s3://bucket/prefix`, `file:///abs/path`, or a plain
/// (relative or absolute) local path. Unknown schemes are refused with the accepted forms.
pub fn parse_location(arg: &str) -> Result<Url, StorageError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(StorageError::BadLocation {
            location: arg.into(),
            reason: "empty dataset location".into(),
        });
    }
    if let Some((scheme, _)) = arg.split_once("://") {
        let mut url = Url::parse(arg).map_err(|e| StorageError::BadLocation {
            location: arg.into(),
            reason: e.to_string(),
        })?;
        // The root is a folder: without the trailing slash, joining `table/` onto
        // `s3://bucket/prefix` would replace `prefix` instead of descending into it.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        return match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(url),
            "s3" | "s3a" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(StorageError::BadLocation {
                        location: arg.into(),
                        reason: "an S3 location needs a bucket: s3://bucket/prefix".into(),
                    });
                }
                Ok(url)
            }
            "gs" | "az" | "abfs" | "abfss" | "azure" => Err(StorageError::UnsupportedScheme {
                location: arg.into(),
                scheme: scheme.into(),
            }),
            _ => Err(StorageError::UnknownScheme {
                location: arg.into(),
                scheme: scheme.into(),
            }),
        };
    }
    let path = std::path::Path::new(arg);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| StorageError::BadLocation {
                location: arg.into(),
                reason: format!("cannot resolve a relative path: {e}"),
            })?
            .join(path)
    };
    Url::from_directory_path(&abs).map_err(|_| StorageError::BadLocation {
        location: arg.into(),
        reason: "not a valid local path".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_directory_file_urls() {
        let u = parse_location("/tmp/data").unwrap();
        assert_eq!(u.as_str(), "file:///tmp/data/");
        let rel = parse_location("masa-data").unwrap();
        assert_eq!(rel.scheme(), "file");
        assert!(rel.path().ends_with("/masa-data/"));
    }

    #[test]
    fn s3_needs_a_bucket_and_its_prefix_is_a_folder() {
        assert_eq!(parse_location("s3://b/p").unwrap().as_str(), "s3://b/p/");
        assert_eq!(parse_location("s3://b/p/").unwrap().as_str(), "s3://b/p/");
        assert_eq!(
            parse_location("s3://b/p")
                .unwrap()
                .join("table/")
                .unwrap()
                .as_str(),
            "s3://b/p/table/"
        );
        assert!(matches!(
            parse_location("s3:///p"),
            Err(StorageError::BadLocation { .. })
        ));
    }

    #[test]
    fn unknown_and_unsupported_schemes_are_named() {
        let e = parse_location("ftp://host/x").unwrap_err();
        assert!(matches!(e, StorageError::UnknownScheme { ref scheme, .. } if scheme == "ftp"));
        assert!(e.to_string().contains("s3://"), "{e}");
        assert!(matches!(
            parse_location("gs://b/x"),
            Err(StorageError::UnsupportedScheme { .. })
        ));
        assert!(parse_location("").is_err());
    }
}
