//! Error types of the MAST client: `QueryError` for problems in what the user asked
//! (parsing and validation, known before any network call) and `MastError` for everything
//! that can go wrong talking to MAST.

use std::time::Duration;

/// A problem with the user's query: bad syntax, an unknown column, a value that does not fit
/// the column. Always detected before any request is sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// An argument that is not `key=value`.
    #[error("cannot parse '{arg}': expected key=value (e.g. obs_collection=HST, s_ra=10..20)")]
    NotKeyValue { arg: String },
    /// `key=` with nothing after it.
    #[error("'{key}' has an empty value")]
    EmptyValue { key: String },
    /// A value of a type the config cannot hold (object, nested array, null).
    #[error("'{key}': unsupported value {value}; use a string, a number or a list of them")]
    UnsupportedValue { key: String, value: String },
    /// A criterion column that is not in the column configuration.
    #[error("Filter '{name}' does not exist.{}", did_you_mean(.suggestion))]
    UnknownFilter {
        name: String,
        suggestion: Option<String>,
    },
    /// A criterion given twice (on the command line or in a map, case-insensitively).
    #[error(
        "criterion '{name}' is given more than once; put all its values in one list (key=a,b)"
    )]
    DuplicateCriterion { name: String },
    /// No criteria besides positional ones.
    #[error("At least one non-positional criterion must be supplied.")]
    NoCriteria,
    /// `coordinates=` that is not RA and Dec.
    #[error("coordinates '{text}': give RA and Dec in degrees (coordinates=\"210.80 54.35\") or sexagesimal (\"14:03:12.6 +54:20:56\")")]
    BadCoordinates { text: String },
    /// `radius=` that is not a positive angle.
    #[error("radius '{text}': give a positive angle in degrees (radius=0.2) or with a unit (radius=\"12 arcmin\", \"30 arcsec\")")]
    BadRadius { text: String },
    /// Both an object name and coordinates.
    #[error("give either objectname or coordinates, not both")]
    NameAndCoordinates,
    /// A radius without a place to search around.
    #[error("radius needs coordinates or objectname to search around")]
    RadiusWithoutTarget,
    /// `column=!value`: MAST's observation criteria cannot exclude values.
    #[error("'{name}={value}': MAST observation criteria cannot exclude values; list the values you want ({name}=a,b), or drop products after the query with --products {name}={value} (product filters accept '!')")]
    NegationNotSupported { name: String, value: String },
    /// A continuous column needs a range.
    #[error("'{name}' is a continuous column and needs a range (e.g. {name}=10..20 or [10, 20]), got {got}")]
    ContinuousNeedsRange { name: String, got: String },
    /// A range end that is not a number.
    #[error("'{name}': range bound '{bound}' is not a number")]
    BadRangeBound { name: String, bound: String },
    /// A range given to a discrete column.
    #[error("'{name}' is a discrete column; ranges (lo..hi) only work on continuous columns. Give values instead (e.g. {name}=a,b)")]
    RangeOnDiscrete { name: String },
    /// Several wildcard values in one discrete criterion (MAST honours only one).
    #[error("'{name}': only one wildcard value (containing * or %) is allowed per criterion, got {values:?}")]
    SeveralWildcards { name: String, values: Vec<String> },
    /// A product filter on a column the product table does not have.
    #[error("Column '{name}' not found in product table.{}", did_you_mean(.suggestion))]
    UnknownProductColumn {
        name: String,
        suggestion: Option<String>,
    },
    /// A numeric product filter that does not parse.
    #[error("Could not parse numeric filter '{value}' for column '{column}'. Use a number, <x, >x, <=x, >=x or lo..hi, optionally prefixed by !")]
    BadNumericFilter { column: String, value: String },
    /// `mrp_only` given something that is not a boolean.
    #[error("mrp_only must be true or false, got '{value}'")]
    BadBool { value: String },
    /// The same error, found in a named view.
    #[error("view '{view}': {source}")]
    InView {
        view: String,
        #[source]
        source: Box<QueryError>,
    },
}

/// Name kept for readers of the suggested API: parsing errors are `QueryError`s.
pub type ParseError = QueryError;
/// Name kept for readers of the suggested API: validation errors are `QueryError`s.
pub type ValidationError = QueryError;

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" Did you mean '{s}'?"),
        None => String::new(),
    }
}

impl QueryError {
    /// Attach a view name so the message says where the problem is.
    pub fn in_view(self, view: &str) -> QueryError {
        match self {
            already @ QueryError::InView { .. } => already,
            other => QueryError::InView {
                view: view.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The error without any view wrapper (for matching in callers and tests).
    pub fn innermost(&self) -> &QueryError {
        match self {
            QueryError::InView { source, .. } => source.innermost(),
            other => other,
        }
    }
}

/// Anything that can go wrong resolving a query against MAST. `what` names the service or
/// endpoint (e.g. `Mast.Caom.Filtered`, `path_lookup`) so a person knows which call failed.
#[derive(Debug, thiserror::Error)]
pub enum MastError {
    #[error(transparent)]
    InvalidQuery(#[from] QueryError),
    #[error("invalid MAST base URL '{url}': {reason}")]
    BadBaseUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    ClientBuild(#[source] reqwest::Error),
    #[error("{what}: HTTP {status} from {url}: {body}")]
    HttpStatus {
        what: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what}: request to {url} failed after {attempts} attempt(s): {detail}")]
    Transport {
        what: String,
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error("{what}: no complete answer within the query budget of {budget:?} ({detail}); MAST may be slow, try again later or raise the budget")]
    Timeout {
        what: String,
        budget: Duration,
        detail: String,
    },
    #[error("{what}: response larger than the cap of {limit} bytes; refusing it (raise max_response_bytes or narrow the query)")]
    ResponseTooLarge { what: String, limit: u64 },
    #[error("{what}: malformed response: {detail}")]
    Malformed { what: String, detail: String },
    #[error("{what}: MAST reported an error: {message}")]
    Remote { what: String, message: String },
    #[error("cannot read column configuration: {0}")]
    ColumnConfig(String),
    #[error("MAST's name resolver does not know '{name}'; check the spelling, or give coordinates instead")]
    NameNotResolved { name: String },
}
