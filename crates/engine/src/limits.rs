//! Upper bounds on everything the engine holds. A command that would exceed one is rejected with
//! a typed reason; it never slows the engine down or makes it allocate without bound.

/// Largest price in ticks any instrument may be configured with (keeps i128 products far from
/// overflow: qty * price * rate * 10^digits stays below 10^36).
pub const PRICE_MAX_TICKS: i64 = 1_000_000_000;
/// Largest quantity of a single order or position, in base units.
pub const QTY_MAX: i64 = 1_000_000_000;
/// Largest single deposit or withdrawal, in minor units.
pub const AMOUNT_MAX_MINOR: i64 = 1_000_000_000_000_000;
/// Working orders (including inactive IFD children) one account may hold.
pub const ORDERS_PER_ACCOUNT_MAX: usize = 1_000;
/// Open positions one account may hold.
pub const POSITIONS_PER_ACCOUNT_MAX: usize = 1_000;
/// Accounts one engine may hold.
pub const ACCOUNTS_MAX: usize = 10_000_000;
/// Instruments one engine may be configured with.
pub const INSTRUMENTS_MAX: usize = 256;
/// Length of a client order id in bytes.
pub const CLIENT_ORDER_ID_LEN_MAX: usize = 64;
/// Account groups one engine may hold.
pub const GROUPS_MAX: usize = 1_000;
/// Leverage an account group may be given.
pub const LEVERAGE_MAX: i64 = 1_000;
/// Orders one backfill restore of a linked group may put back: an IFO (a parent and its two
/// children) is the largest group a placement makes.
pub const RESTORED_GROUP_ORDERS_MAX: usize = 3;
