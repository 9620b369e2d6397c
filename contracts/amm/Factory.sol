// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Pair} from "./Pair.sol";

/// @title Creates one constant-product Pair per token pair (Uniswap V2 factory interface) with a per-pair fee.
/// @notice Pairs are deployed with CREATE2 and salt keccak256(token0, token1); their init code takes no arguments, so a
/// pair address is computable off-chain from (factory, token0, token1, keccak256(type(Pair).creationCode)).
contract Factory {
    /// @notice Fee of pairs made by createPair, in basis points.
    uint16 public constant DEFAULT_FEE_BPS = 30;
    /// @notice Highest fee a pair may charge, in basis points (10 %).
    uint16 public constant MAX_FEE_BPS = 1_000;

    /// @notice Receiver of the protocol fee; zero (the default) turns it off.
    address public feeTo;
    /// @notice The account allowed to change feeTo and feeToSetter.
    address public feeToSetter;

    /// @notice Pair of two tokens, stored under both orders.
    mapping(address => mapping(address => address)) public getPair;
    /// @notice Every pair in creation order.
    address[] public allPairs;

    // Parameters of the pair under construction, read back by its constructor (transient: one transaction only).
    address private transient _token0;
    address private transient _token1;
    uint16 private transient _feeBps;

    event PairCreated(address indexed token0, address indexed token1, address pair, uint256 count);
    event PairFee(address indexed pair, uint16 feeBps);
    event FeeToChanged(address feeTo);
    event FeeToSetterChanged(address feeToSetter);

    error IdenticalAddresses(address token);
    error ZeroAddress();
    error PairExists(address token0, address token1, address pair);
    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    error Forbidden(address caller, address feeToSetter);

    /// @param _feeToSetter Account allowed to set the protocol fee receiver.
    constructor(address _feeToSetter) {
        feeToSetter = _feeToSetter;
    }

    /// @notice Number of pairs created.
    /// @return The number of pairs.
    function allPairsLength() external view returns (uint256) {
        return allPairs.length;
    }

    /// @notice Parameters of the pair being deployed; read by Pair's constructor.
    /// @return token0 The lower-address token.
    /// @return token1 The higher-address token.
    /// @return feeBps The swap fee in basis points.
    function pairParameters() external view returns (address token0, address token1, uint16 feeBps) {
        return (_token0, _token1, _feeBps);
    }

    /// @notice Creates the pair of tokenA and tokenB with the default 0.30 % fee.
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token of the pair.
    /// @return pair The new pair.
    function createPair(address tokenA, address tokenB) external returns (address pair) {
        return _createPair(tokenA, tokenB, DEFAULT_FEE_BPS);
    }

    /// @notice Creates the pair of tokenA and tokenB with a swap fee of `feeBps` basis points.
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token of the pair.
    /// @param feeBps Swap fee in basis points.
    /// @return pair The new pair.
    function createPairWithFee(address tokenA, address tokenB, uint16 feeBps) external returns (address pair) {
        if (feeBps > MAX_FEE_BPS) revert FeeTooHigh(feeBps, MAX_FEE_BPS);
        return _createPair(tokenA, tokenB, feeBps);
    }

    /// @notice Sets the protocol fee receiver (zero turns the protocol fee off).
    /// @param _feeTo The new protocol fee receiver (zero: protocol fee off).
    function setFeeTo(address _feeTo) external {
        if (msg.sender != feeToSetter) revert Forbidden(msg.sender, feeToSetter);
        feeTo = _feeTo;
        emit FeeToChanged(_feeTo);
    }

    /// @notice Hands the right to set feeTo to another account.
    /// @param _feeToSetter The account that may set feeTo from now on.
    function setFeeToSetter(address _feeToSetter) external {
        if (msg.sender != feeToSetter) revert Forbidden(msg.sender, feeToSetter);
        feeToSetter = _feeToSetter;
        emit FeeToSetterChanged(_feeToSetter);
    }

    /// @dev The only writer of the pair registry.
    function _createPair(address tokenA, address tokenB, uint16 feeBps) private returns (address pair) {
        if (tokenA == tokenB) revert IdenticalAddresses(tokenA);
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        if (token0 == address(0)) revert ZeroAddress();
        address existing = getPair[token0][token1];
        if (existing != address(0)) revert PairExists(token0, token1, existing);
        (_token0, _token1, _feeBps) = (token0, token1, feeBps);
        pair = address(new Pair{salt: keccak256(abi.encodePacked(token0, token1))}());
        getPair[token0][token1] = pair;
        getPair[token1][token0] = pair;
        allPairs.push(pair);
        emit PairCreated(token0, token1, pair, allPairs.length);
        if (feeBps != DEFAULT_FEE_BPS) emit PairFee(pair, feeBps);
    }
}
