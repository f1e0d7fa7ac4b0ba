//! 5GTANGO descriptors (NSD, VNFD) and records (NSR, VNFR), as the model
//! crate types them (see [`tango_model`]). In a guest the types read the
//! fields they name and leave the rest in the request's raw
//! [`Document`](crate::Document).

pub use tango_model::Scalar;
pub use tango_model::descriptor::*;
pub use tango_model::record::*;
