//! Arithmetic: `len`, numbers, named constants, `proto[off:size]`, unary minus and the binary
//! operators, with libpcap's precedence: `|` < `&` < `<< >>` < `+ -` < `* /` < unary minus.
//! `^` and `%` have no precedence in libpcap's grammar, so yacc always shifts them: such an
//! operator takes the operand just before it as its left side and everything after it as its
//! right side (`2 * 3 ^ 1 + 1` is `2 * (3 ^ (1 + 1))`); this parser does the same.

use super::{PResult, Parser};
use crate::filter::ast::{Arith, BinOp, Layer, Layers, RelOp};
use crate::filter::eval::constant;
use crate::filter::lex::Tok;
use crate::filter::names;

/// Binary operators that have a precedence, lowest first.
fn precedence(op: &str) -> Option<(u8, BinOp)> {
    Some(match op {
        "|" => (1, BinOp::Or),
        "&" => (2, BinOp::And),
        "<<" => (3, BinOp::Shl),
        ">>" => (3, BinOp::Shr),
        "+" => (4, BinOp::Add),
        "-" => (4, BinOp::Sub),
        "*" => (5, BinOp::Mul),
        "/" => (5, BinOp::Div),
        _ => return None,
    })
}

/// Adds the layers whose checks `a` implies to `out`. As in libpcap's gen_arth, a binary
/// operation keeps only the checks of its left operand (`ip[2:2] - tcp[12]` checks IPv4 but not
/// TCP); a byte access adds its own layer to those of its offset.
pub(super) fn layers(a: &Arith, out: &mut Layers) {
    match a {
        Arith::Num(_) | Arith::Len => {}
        Arith::Load { layer, off, .. } => {
            out.add(*layer);
            layers(off, out);
        }
        Arith::Neg(x) | Arith::Bin(_, x, _) => layers(x, out),
    }
}

impl Parser<'_> {
    /// A whole arithmetic expression.
    pub(super) fn arith(&mut self) -> PResult<Arith> {
        self.arith_above(0)
    }

    /// Precedence climbing over the operators with a precedence above `min`.
    fn arith_above(&mut self, min: u8) -> PResult<Arith> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Tok::Op(op) = *self.peek() {
            let Some((prec, bin)) = precedence(op) else {
                break;
            };
            if prec <= min {
                break;
            }
            let at = self.offset();
            self.advance();
            let rhs = self.arith_above(prec)?;
            lhs = self.combine(at, bin, lhs, rhs)?;
        }
        self.leave();
        Ok(lhs)
    }

    /// `-x`, or an operand, possibly followed by `^`/`%` and the rest of the expression.
    fn unary(&mut self) -> PResult<Arith> {
        if matches!(self.peek(), Tok::Op("-")) {
            self.advance();
            self.enter()?;
            let x = self.unary()?;
            self.leave();
            return Ok(Arith::Neg(Box::new(x)));
        }
        let operand = self.operand()?;
        let bin = match self.peek() {
            Tok::Op("^") => BinOp::Xor,
            Tok::Op("%") => BinOp::Mod,
            _ => return Ok(operand),
        };
        let at = self.offset();
        self.advance();
        let rest = self.arith_above(0)?;
        self.combine(at, bin, operand, rest)
    }

    /// Builds `x op y`, refusing what libpcap refuses at compile time.
    fn combine(&self, at: usize, op: BinOp, x: Arith, y: Arith) -> PResult<Arith> {
        let err = |m: &str| crate::filter::FilterError::new(at, m);
        match op {
            BinOp::Div if constant(&y) == Some(0) => return Err(err("division by zero")),
            BinOp::Mod if constant(&y) == Some(0) => return Err(err("modulus by zero")),
            BinOp::Shl | BinOp::Shr if constant(&y).is_some_and(|k| k > 31) => {
                return Err(err("shift by more than 31 bits"))
            }
            _ => {}
        }
        Ok(Arith::Bin(op, Box::new(x), Box::new(y)))
    }

    /// A number, `len`, a named constant, `proto[off]`, `proto[off:size]` or `( arith )`.
    fn operand(&mut self) -> PResult<Arith> {
        let found = self.describe();
        match self.peek() {
            Tok::Num(n) => {
                let n = *n;
                self.advance();
                Ok(Arith::Num(n))
            }
            Tok::Op("(") => {
                self.advance();
                let inner = self.arith()?;
                self.expect_op(")", "to close '('")?;
                Ok(inner)
            }
            Tok::Word {
                text,
                escaped: false,
            } => {
                let layer = match text.as_str() {
                    "len" => {
                        self.advance();
                        return Ok(Arith::Len);
                    }
                    "ip" => Layer::Ip,
                    "tcp" => Layer::Tcp,
                    "udp" => Layer::Udp,
                    "icmp" => Layer::Icmp,
                    "ip6" => Layer::Ip6,
                    "icmp6" => Layer::Icmp6,
                    w => {
                        let v = names::constant(w).ok_or_else(|| {
                            self.error(format!("expected a number, 'len' or a byte access like tcp[13], found {found}"))
                        })?;
                        self.advance();
                        return Ok(Arith::Num(v));
                    }
                };
                self.advance();
                self.load(layer)
            }
            _ => Err(self.error(format!(
                "expected a number, 'len' or a byte access like tcp[13], found {found}"
            ))),
        }
    }

    /// `[off]` or `[off:size]` after a protocol name.
    fn load(&mut self, layer: Layer) -> PResult<Arith> {
        self.expect_op("[", "for a byte access")?;
        let off = self.arith()?;
        let size = if self.eat_op(":") {
            match *self.peek() {
                Tok::Num(n @ (1 | 2 | 4)) => {
                    self.advance();
                    n as u8
                }
                _ => return Err(self.error("data size must be 1, 2, or 4")),
            }
        } else {
            1
        };
        self.expect_op("]", "to close the byte access")?;
        Ok(Arith::Load {
            layer,
            off: Box::new(off),
            size,
        })
    }

    /// A comparison operator, consumed if present.
    pub(super) fn relop(&mut self) -> Option<RelOp> {
        let op = match self.peek() {
            Tok::Op("=" | "==") => RelOp::Eq,
            Tok::Op("!=") => RelOp::Ne,
            Tok::Op("<") => RelOp::Lt,
            Tok::Op("<=") => RelOp::Le,
            Tok::Op(">") => RelOp::Gt,
            Tok::Op(">=") => RelOp::Ge,
            _ => return None,
        };
        self.advance();
        Some(op)
    }
}
