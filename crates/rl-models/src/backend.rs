//! The one file that names concrete backends. Everything else is generic over
//! `B: Backend` / `B: AutodiffBackend`; binaries and tests use these aliases.
//!
//! Exactly one of the cargo features `ndarray` (default), `wgpu` or `flex` must be on.

#[cfg(not(any(feature = "ndarray", feature = "wgpu", feature = "flex")))]
compile_error!(
    "no backend selected: enable exactly one of the features `ndarray` (the default), `wgpu` or `flex`"
);
#[cfg(any(
    all(feature = "ndarray", feature = "wgpu"),
    all(feature = "ndarray", feature = "flex"),
    all(feature = "wgpu", feature = "flex")
))]
compile_error!(
    "several backends selected: enable exactly one of `ndarray`, `wgpu` or `flex` \
     (use --no-default-features --features wgpu for the GPU backend)"
);

/// The backend this build was compiled for (inference, no autodiff).
#[cfg(feature = "ndarray")]
pub type Backend = burn::backend::NdArray<f32>;
/// The backend this build was compiled for (inference, no autodiff).
#[cfg(feature = "wgpu")]
pub type Backend = burn::backend::Wgpu;
/// The backend this build was compiled for (inference, no autodiff).
#[cfg(feature = "flex")]
pub type Backend = burn::backend::Flex;

/// [`Backend`] with automatic differentiation, for training.
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// The device of [`Backend`]: the CPU, or wgpu's default adapter.
pub fn device() -> burn::tensor::Device<Backend> {
    Default::default()
}

/// The backend's name as written into run configurations: `ndarray`, `wgpu` or `flex`.
pub const NAME: &str = if cfg!(feature = "ndarray") {
    "ndarray"
} else if cfg!(feature = "wgpu") {
    "wgpu"
} else {
    "flex"
};

/// What [`device`] is, for `rl bench`'s first line: the CPU, or for wgpu the adapter
/// (its name, graphics API, kind and driver).
///
/// # Panics
///
/// On wgpu, the first call initialises the default device the way Burn does (default
/// runtime options) to read its adapter, and cubecl panics if the device is already in
/// use: call it before anything else touches the device (later calls return the same
/// text).
pub fn describe_device() -> String {
    #[cfg(feature = "wgpu")]
    {
        static DESCRIPTION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DESCRIPTION.get_or_init(describe_wgpu_adapter).clone()
    }
    #[cfg(not(feature = "wgpu"))]
    {
        "the CPU".to_string()
    }
}

#[cfg(feature = "wgpu")]
fn describe_wgpu_adapter() -> String {
    use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, graphics::AutoGraphicsApi};
    let setup = burn::backend::wgpu::init_setup::<AutoGraphicsApi>(
        &WgpuDevice::DefaultDevice,
        RuntimeOptions::default(),
    );
    let info = setup.adapter.get_info();
    format!(
        "adapter {:?} ({:?}, {:?}, driver {:?} {:?})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}
