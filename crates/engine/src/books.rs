//! Per-instrument trigger books: resting orders sorted by the price that fires them, so a quote
//! costs O(log n + fired) whatever the number of resting orders.

use crate::types::{OrderId, Price, Side};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a resting order waits. Buy orders watch the ask, sell orders the bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Fires when the watched price is at or above the level (buy stop, sell limit).
    AtOrAbove(Price),
    /// Fires when the watched price is at or below the level (buy limit, sell stop).
    AtOrBelow(Price),
    /// A trailing stop `distance` behind the best watched price since it was placed.
    Trailing { distance: Price },
}

/// Orders grouped by price level. Retail orders cluster on few prices, so the level map stays
/// small and cache-resident however many orders rest; a level is a short vector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Levels {
    levels: BTreeMap<Price, Vec<OrderId>>,
    len: usize,
}

impl Levels {
    fn insert(&mut self, price: Price, id: OrderId) -> bool {
        self.levels.entry(price).or_default().push(id);
        self.len += 1;
        true
    }

    fn remove(&mut self, price: Price, id: OrderId) -> bool {
        let Some(level) = self.levels.get_mut(&price) else {
            return false;
        };
        let Some(at) = level.iter().position(|&o| o == id) else {
            return false;
        };
        level.swap_remove(at);
        if level.is_empty() {
            self.levels.remove(&price);
        }
        self.len -= 1;
        true
    }

    /// The newest order at a level, if any (reads the level's tree path and its last entry).
    fn peek(&self, price: Price) -> Option<OrderId> {
        self.levels
            .get(&price)
            .and_then(|level| level.last().copied())
    }

    /// Takes every order at a level <= `price`.
    fn take_at_or_below(&mut self, price: Price, fired: &mut Vec<OrderId>) {
        while let Some(entry) = self.levels.first_entry() {
            if *entry.key() > price {
                break;
            }
            let level = entry.remove();
            self.len -= level.len();
            fired.extend(level);
        }
    }

    /// Takes every order at a level >= `price`.
    fn take_at_or_above(&mut self, price: Price, fired: &mut Vec<OrderId>) {
        while let Some(entry) = self.levels.last_entry() {
            if *entry.key() < price {
                break;
            }
            let level = entry.remove();
            self.len -= level.len();
            fired.extend(level);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TriggerBook {
    /// Buy stops: fire when the ask rises to the level.
    buy_at_or_above: Levels,
    /// Buy limits: fire when the ask falls to the level.
    buy_at_or_below: Levels,
    /// Sell limits: fire when the bid rises to the level.
    sell_at_or_above: Levels,
    /// Sell stops: fire when the bid falls to the level.
    sell_at_or_below: Levels,
    /// Sell trailing stops follow the bid up.
    trail_sell: TrailBook,
    /// Buy trailing stops follow the ask down; stored in negated prices so one structure serves.
    trail_buy: TrailBook,
}

impl TriggerBook {
    /// Adds a resting order. `bid`/`ask` are the current quote (a trailing stop anchors there).
    pub fn insert(&mut self, id: OrderId, side: Side, rest: Rest, bid: Price, ask: Price) {
        let inserted = match (side, rest) {
            (Side::Buy, Rest::AtOrAbove(p)) => self.buy_at_or_above.insert(p, id),
            (Side::Buy, Rest::AtOrBelow(p)) => self.buy_at_or_below.insert(p, id),
            (Side::Sell, Rest::AtOrAbove(p)) => self.sell_at_or_above.insert(p, id),
            (Side::Sell, Rest::AtOrBelow(p)) => self.sell_at_or_below.insert(p, id),
            (Side::Sell, Rest::Trailing { distance }) => self.trail_sell.insert(id, distance, bid),
            (Side::Buy, Rest::Trailing { distance }) => self.trail_buy.insert(id, distance, -ask),
        };
        debug_assert!(inserted, "order {id} rests twice");
    }

    /// The newest order where an order of this side and rest would wait (trailing stops: none).
    /// Only a read, for warming the cache before an insert or removal there.
    pub fn peek(&self, side: Side, rest: Rest) -> Option<OrderId> {
        match (side, rest) {
            (Side::Buy, Rest::AtOrAbove(p)) => self.buy_at_or_above.peek(p),
            (Side::Buy, Rest::AtOrBelow(p)) => self.buy_at_or_below.peek(p),
            (Side::Sell, Rest::AtOrAbove(p)) => self.sell_at_or_above.peek(p),
            (Side::Sell, Rest::AtOrBelow(p)) => self.sell_at_or_below.peek(p),
            (_, Rest::Trailing { .. }) => None,
        }
    }

    /// Removes a resting order; returns whether it was there.
    pub fn remove(&mut self, id: OrderId, side: Side, rest: Rest) -> bool {
        match (side, rest) {
            (Side::Buy, Rest::AtOrAbove(p)) => self.buy_at_or_above.remove(p, id),
            (Side::Buy, Rest::AtOrBelow(p)) => self.buy_at_or_below.remove(p, id),
            (Side::Sell, Rest::AtOrAbove(p)) => self.sell_at_or_above.remove(p, id),
            (Side::Sell, Rest::AtOrBelow(p)) => self.sell_at_or_below.remove(p, id),
            (Side::Sell, Rest::Trailing { .. }) => self.trail_sell.remove(id).is_some(),
            (Side::Buy, Rest::Trailing { .. }) => self.trail_buy.remove(id).is_some(),
        }
    }

    /// Changes a trailing stop's distance, keeping its best price since placement.
    pub fn retrail(&mut self, id: OrderId, side: Side, distance: Price) -> bool {
        let book = match side {
            Side::Sell => &mut self.trail_sell,
            Side::Buy => &mut self.trail_buy,
        };
        match book.remove(id) {
            Some(anchor) => book.insert(id, distance, anchor),
            None => false,
        }
    }

    /// The current stop price of a trailing stop, in real prices.
    pub fn trailing_stop_price(&self, id: OrderId, side: Side) -> Option<Price> {
        match side {
            Side::Sell => self.trail_sell.stop_of(id),
            Side::Buy => self.trail_buy.stop_of(id).map(|x| -x),
        }
    }

    /// Moves trailing anchors to the new quote and takes out every order the quote fires,
    /// appending their ids to `fired` (unsorted; the caller orders them by time priority).
    pub fn take_fired(&mut self, bid: Price, ask: Price, fired: &mut Vec<OrderId>) {
        self.buy_at_or_above.take_at_or_below(ask, fired);
        self.buy_at_or_below.take_at_or_above(ask, fired);
        self.sell_at_or_above.take_at_or_below(bid, fired);
        self.sell_at_or_below.take_at_or_above(bid, fired);
        self.trail_sell.on_price(bid, fired);
        self.trail_buy.on_price(-ask, fired);
    }

    pub fn len(&self) -> usize {
        self.buy_at_or_above.len
            + self.buy_at_or_below.len
            + self.sell_at_or_above.len
            + self.sell_at_or_below.len
            + self.trail_sell.len()
            + self.trail_buy.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Trailing stops for one side, in a price space `x` where the stop trails *below* the best
/// price: a stop fires when `x <= anchor - distance`, where `anchor` is the highest `x` seen since
/// the order was placed.
///
/// Orders placed at different times have different anchors, but once the market makes a new
/// high every anchor below it becomes that high, so orders are kept in groups that share an
/// anchor. A new high merges all lower groups into one (smaller group into larger, so each order
/// moves O(log n) times over its life); within a group the smallest distance fires first, and a
/// set of (group stop, group) pairs finds the highest stop in O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrailBook {
    groups: BTreeMap<u64, TrailGroup>,
    by_anchor: BTreeMap<Price, u64>,
    stops: BTreeSet<(Price, u64)>,
    located: BTreeMap<OrderId, (u64, Price)>,
    next_group: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct TrailGroup {
    anchor: Price,
    /// (distance, order): the first entry has the highest stop.
    members: BTreeSet<(Price, OrderId)>,
}

impl TrailGroup {
    fn stop(&self) -> Option<Price> {
        self.members
            .first()
            .map(|&(distance, _)| self.anchor - distance)
    }
}

impl TrailBook {
    fn len(&self) -> usize {
        self.located.len()
    }

    /// Adds an order anchored at `anchor` (the current price, or its old anchor on a re-trail).
    fn insert(&mut self, id: OrderId, distance: Price, anchor: Price) -> bool {
        debug_assert!(distance > 0);
        if self.located.contains_key(&id) {
            return false;
        }
        let group_id = match self.by_anchor.get(&anchor) {
            Some(&group_id) => group_id,
            None => {
                let group_id = self.next_group;
                self.next_group += 1;
                self.groups.insert(
                    group_id,
                    TrailGroup {
                        anchor,
                        members: BTreeSet::new(),
                    },
                );
                self.by_anchor.insert(anchor, group_id);
                group_id
            }
        };
        self.unlist_stop(group_id);
        if let Some(group) = self.groups.get_mut(&group_id) {
            group.members.insert((distance, id));
        }
        self.located.insert(id, (group_id, distance));
        self.list_stop(group_id);
        true
    }

    /// Removes an order; returns its anchor.
    fn remove(&mut self, id: OrderId) -> Option<Price> {
        let (group_id, distance) = self.located.remove(&id)?;
        self.unlist_stop(group_id);
        let group = self.groups.get_mut(&group_id)?;
        group.members.remove(&(distance, id));
        let anchor = group.anchor;
        if group.members.is_empty() {
            self.groups.remove(&group_id);
            self.by_anchor.remove(&anchor);
        } else {
            self.list_stop(group_id);
        }
        Some(anchor)
    }

    fn stop_of(&self, id: OrderId) -> Option<Price> {
        let (group_id, distance) = self.located.get(&id)?;
        Some(self.groups.get(group_id)?.anchor - distance)
    }

    fn unlist_stop(&mut self, group_id: u64) {
        if let Some(stop) = self.groups.get(&group_id).and_then(TrailGroup::stop) {
            self.stops.remove(&(stop, group_id));
        }
    }

    fn list_stop(&mut self, group_id: u64) {
        if let Some(stop) = self.groups.get(&group_id).and_then(TrailGroup::stop) {
            self.stops.insert((stop, group_id));
        }
    }

    fn on_price(&mut self, x: Price, fired: &mut Vec<OrderId>) {
        // Raise every anchor below x to x, merging those groups (and any group already at x).
        let mut target: Option<u64> = None;
        while let Some((&anchor, &group_id)) = self.by_anchor.first_key_value() {
            if anchor > x {
                break;
            }
            self.by_anchor.pop_first();
            self.unlist_stop(group_id);
            target = Some(match target {
                None => group_id,
                Some(kept) => self.merge(kept, group_id),
            });
        }
        if let Some(group_id) = target {
            if let Some(group) = self.groups.get_mut(&group_id) {
                group.anchor = x;
            }
            self.by_anchor.insert(x, group_id);
            self.list_stop(group_id);
        }
        // Fire from the highest stop down while the price is at or below it.
        while let Some(&(stop, group_id)) = self.stops.last() {
            if x > stop {
                break;
            }
            self.stops.pop_last();
            let Some(group) = self.groups.get_mut(&group_id) else {
                break;
            };
            let Some((_, id)) = group.members.pop_first() else {
                break;
            };
            self.located.remove(&id);
            fired.push(id);
            if group.members.is_empty() {
                let anchor = group.anchor;
                self.groups.remove(&group_id);
                self.by_anchor.remove(&anchor);
            } else {
                self.list_stop(group_id);
            }
        }
    }

    /// Merges two groups (neither listed in `stops` or `by_anchor`); returns the surviving id.
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        let size = |book: &Self, id: u64| book.groups.get(&id).map_or(0, |g| g.members.len());
        let (kept, gone) = if size(self, a) >= size(self, b) {
            (a, b)
        } else {
            (b, a)
        };
        let Some(moved) = self.groups.remove(&gone) else {
            return kept;
        };
        for &(distance, id) in &moved.members {
            self.located.insert(id, (kept, distance));
        }
        if let Some(group) = self.groups.get_mut(&kept) {
            group.members.extend(moved.members);
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(book: &mut TriggerBook, bid: Price, ask: Price) -> Vec<u64> {
        let mut out = Vec::new();
        book.take_fired(bid, ask, &mut out);
        let mut ids: Vec<u64> = out.into_iter().map(|id| id.0).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn buy_orders_watch_the_ask_and_sell_orders_the_bid() {
        let mut book = TriggerBook::default();
        book.insert(OrderId(1), Side::Buy, Rest::AtOrAbove(105), 100, 101);
        book.insert(OrderId(2), Side::Buy, Rest::AtOrBelow(95), 100, 101);
        book.insert(OrderId(3), Side::Sell, Rest::AtOrAbove(105), 100, 101);
        book.insert(OrderId(4), Side::Sell, Rest::AtOrBelow(95), 100, 101);
        // bid 105 fires the sell limit but not the buy stop (ask 106 would).
        assert_eq!(fired(&mut book, 105, 105), vec![1, 3]);
        assert_eq!(fired(&mut book, 96, 97), Vec::<u64>::new());
        assert_eq!(fired(&mut book, 95, 95), vec![2, 4]);
        assert!(book.is_empty());
    }

    #[test]
    fn peek_reads_the_newest_order_where_an_order_would_wait_and_changes_nothing() {
        let mut book = TriggerBook::default();
        book.insert(OrderId(1), Side::Buy, Rest::AtOrBelow(95), 100, 101);
        book.insert(OrderId(2), Side::Buy, Rest::AtOrBelow(95), 100, 101);
        book.insert(OrderId(3), Side::Sell, Rest::AtOrBelow(95), 100, 101);
        let before = book.clone();
        assert_eq!(book.peek(Side::Buy, Rest::AtOrBelow(95)), Some(OrderId(2)));
        assert_eq!(book.peek(Side::Sell, Rest::AtOrBelow(95)), Some(OrderId(3)));
        assert_eq!(book.peek(Side::Buy, Rest::AtOrAbove(95)), None);
        assert_eq!(book.peek(Side::Buy, Rest::AtOrBelow(94)), None);
        assert_eq!(book.peek(Side::Sell, Rest::Trailing { distance: 5 }), None);
        assert_eq!(book, before);
    }

    #[test]
    fn sell_trailing_stop_follows_the_bid_up_and_never_down() {
        let mut book = TriggerBook::default();
        book.insert(
            OrderId(1),
            Side::Sell,
            Rest::Trailing { distance: 10 },
            100,
            101,
        );
        book.insert(
            OrderId(2),
            Side::Sell,
            Rest::Trailing { distance: 20 },
            100,
            101,
        );
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(90));
        assert!(fired(&mut book, 120, 121).is_empty());
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(110));
        assert_eq!(book.trailing_stop_price(OrderId(2), Side::Sell), Some(100));
        assert!(fired(&mut book, 111, 112).is_empty());
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(110));
        assert_eq!(fired(&mut book, 110, 111), vec![1]);
        assert_eq!(fired(&mut book, 100, 101), vec![2]);
        assert!(book.is_empty());
    }

    #[test]
    fn buy_trailing_stop_follows_the_ask_down() {
        let mut book = TriggerBook::default();
        book.insert(
            OrderId(7),
            Side::Buy,
            Rest::Trailing { distance: 10 },
            99,
            100,
        );
        assert!(fired(&mut book, 79, 80).is_empty());
        assert_eq!(book.trailing_stop_price(OrderId(7), Side::Buy), Some(90));
        assert!(fired(&mut book, 88, 89).is_empty());
        assert_eq!(fired(&mut book, 89, 90), vec![7]);
    }

    #[test]
    fn trailing_orders_placed_at_different_times_keep_their_own_anchor_until_a_new_high() {
        let mut book = TriggerBook::default();
        book.insert(
            OrderId(1),
            Side::Sell,
            Rest::Trailing { distance: 40 },
            150,
            151,
        );
        assert!(fired(&mut book, 120, 121).is_empty());
        book.insert(
            OrderId(2),
            Side::Sell,
            Rest::Trailing { distance: 10 },
            120,
            121,
        );
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(110));
        assert_eq!(book.trailing_stop_price(OrderId(2), Side::Sell), Some(110));
        assert!(fired(&mut book, 130, 131).is_empty());
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(110));
        assert_eq!(book.trailing_stop_price(OrderId(2), Side::Sell), Some(120));
        assert!(fired(&mut book, 160, 161).is_empty());
        assert_eq!(book.trailing_stop_price(OrderId(1), Side::Sell), Some(120));
        assert_eq!(book.trailing_stop_price(OrderId(2), Side::Sell), Some(150));
        assert!(book.remove(OrderId(1), Side::Sell, Rest::Trailing { distance: 40 }));
        assert!(book.retrail(OrderId(2), Side::Sell, 5));
        assert_eq!(book.trailing_stop_price(OrderId(2), Side::Sell), Some(155));
        assert_eq!(fired(&mut book, 155, 156), vec![2]);
    }
}
