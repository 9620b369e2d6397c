// SPDX-License-Identifier: GPL-3.0-or-later
// Copyright (C) 2015, 2016, 2017 Dapphub
//
// This program is free software: you can redistribute it and/or modify it under the terms of the GNU General Public
// License as published by the Free Software Foundation, either version 3 of the License, or (at your option) any
// later version. This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without
// even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public
// License for more details. You should have received a copy of the GNU General Public License along with this
// program. If not, see <http://www.gnu.org/licenses/>.
pragma solidity 0.8.28;

/// @title Wrapped Ether: a port of WETH9 (Dapphub; mainnet 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2) to Solidity 0.8.
/// @notice Same storage layout (name, symbol, decimals, balanceOf, allowance in slots 0-4), events, functions and
/// semantics as the mainnet contract: 1 WETH per wei deposited; totalSupply is the contract's ETH balance; an
/// allowance of type(uint256).max is never decreased; transfer to any address (zero included) is allowed; withdraw
/// pays with `transfer` (2,300 gas stipend), so a receiving contract must accept ETH cheaply.
/// Deviations, both deliberate: failed checks revert with custom errors carrying the values instead of an empty
/// revert; and there is no fallback function -- plain ETH transfers deposit (receive), but a call with an unknown
/// selector reverts instead of silently depositing (mainnet's fallback answers e.g. permit() with success).
contract WETH9 {
    /// @notice Token name.
    string public name = "Wrapped Ether";
    /// @notice Token symbol.
    string public symbol = "WETH";
    /// @notice Decimals of the token (those of ETH).
    uint8 public decimals = 18;

    /// @notice WETH balance of each account.
    mapping(address => uint256) public balanceOf;
    /// @notice allowance[owner][spender]: WETH the spender may move from the owner.
    mapping(address => mapping(address => uint256)) public allowance;

    event Approval(address indexed src, address indexed guy, uint256 wad);
    event Transfer(address indexed src, address indexed dst, uint256 wad);
    event Deposit(address indexed dst, uint256 wad);
    event Withdrawal(address indexed src, uint256 wad);

    /// @notice `account` holds `balance` WETH, less than the `needed` amount.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    /// @notice `spender` may move `allowance` of `owner`'s WETH, less than the `needed` amount.
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);

    /// @notice Plain ETH sent to the contract is deposited for the sender.
    receive() external payable {
        deposit();
    }

    /// @notice Credits msg.value WETH to the caller.
    function deposit() public payable {
        balanceOf[msg.sender] += msg.value;
        emit Deposit(msg.sender, msg.value);
    }

    /// @notice Burns `wad` WETH of the caller and sends `wad` wei to it (with the 2,300 gas stipend of `transfer`).
    /// @param wad Amount in wei.
    function withdraw(uint256 wad) public {
        uint256 balance = balanceOf[msg.sender];
        if (balance < wad) revert InsufficientBalance(msg.sender, balance, wad);
        balanceOf[msg.sender] = balance - wad;
        payable(msg.sender).transfer(wad);
        emit Withdrawal(msg.sender, wad);
    }

    /// @notice Total WETH in existence: the ETH held by this contract (ETH forced in without deposit included).
    /// @return The total supply.
    function totalSupply() public view returns (uint256) {
        return address(this).balance;
    }

    /// @notice Lets `guy` move up to `wad` of the caller's WETH (type(uint256).max: without limit, never decreased).
    /// @param guy The spender.
    /// @param wad Amount in wei.
    /// @return Always true.
    function approve(address guy, uint256 wad) public returns (bool) {
        allowance[msg.sender][guy] = wad;
        emit Approval(msg.sender, guy, wad);
        return true;
    }

    /// @notice Moves `wad` of the caller's WETH to `dst`.
    /// @param dst The receiver.
    /// @param wad Amount in wei.
    /// @return Always true.
    function transfer(address dst, uint256 wad) public returns (bool) {
        return transferFrom(msg.sender, dst, wad);
    }

    /// @notice Moves `wad` WETH from `src` to `dst`, spending the caller's allowance unless the caller is `src`.
    /// @param src The account debited.
    /// @param dst The receiver.
    /// @param wad Amount in wei.
    /// @return Always true.
    function transferFrom(address src, address dst, uint256 wad) public returns (bool) {
        uint256 balance = balanceOf[src];
        if (balance < wad) revert InsufficientBalance(src, balance, wad);

        if (src != msg.sender) {
            uint256 allowed = allowance[src][msg.sender];
            if (allowed != type(uint256).max) {
                if (allowed < wad) revert InsufficientAllowance(src, msg.sender, allowed, wad);
                allowance[src][msg.sender] = allowed - wad;
            }
        }

        balanceOf[src] = balance - wad;
        balanceOf[dst] += wad;

        emit Transfer(src, dst, wad);

        return true;
    }
}
